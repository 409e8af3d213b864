"""Optional run-time compilation of the element-wise work of an update (issue 12): ``FFREPRO_COMPILE=1``.

An FF update on a CPU is its matrix products plus a few hundred element-wise passes over memory (the
optimiser's alone read and write every weight three times). ``torch.compile`` fuses such passes into
one loop per tensor. It needs a C++ compiler at run time on a CPU (Triton on a GPU) and some seconds
to compile each function once per shape (cached on disk for later processes), so it is off unless
``FFREPRO_COMPILE=1``; the results' provenance records whether it was on. If compiling fails, a
warning names the cause once and the eager code runs from then on: the same arithmetic, up to float
rounding.

Inductor keys its on-disk cache by the machine, not by ``ATEN_CPU_CAPABILITY``: with that variable set
(to emulate an AVX2-only CPU on an AVX-512 one, say) a kernel cached by a native run is loaded and
gives wrong numbers (measured with torch 2.14: a smoothed gradient off by 0.35). So a process with
``ATEN_CPU_CAPABILITY`` set, and no ``TORCHINDUCTOR_CACHE_DIR`` of its own, caches apart.
"""

from __future__ import annotations

import getpass
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from typing import Any


def inductor_cache_dir(capability: str) -> str:
    """Where compiled kernels are cached when torch's kernels are limited to ``capability``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid_{os.getuid()}"
    return os.path.join(tempfile.gettempdir(), f"torchinductor_{re.sub(r'[^A-Za-z0-9_.-]', '_', user)}_{re.sub(r'[^A-Za-z0-9_]', '_', capability)}")


if os.environ.get("ATEN_CPU_CAPABILITY"):
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", inductor_cache_dir(os.environ["ATEN_CPU_CAPABILITY"]))


def enabled() -> bool:
    """Whether ``FFREPRO_COMPILE=1`` asks for compiled element-wise steps."""
    return os.environ.get("FFREPRO_COMPILE", "0") == "1"


class Compiled:
    """``fn``, compiled with ``torch.compile`` when :func:`enabled` (at the first call), else as it is."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn
        self._compiled: Callable[..., Any] | None = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        """Whether calls run compiled (asked for, and not failed)."""
        return enabled() and not self._failed

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.enabled:
            return self.fn(*args, **kwargs)
        if self._compiled is None:
            import torch

            self._compiled = torch.compile(self.fn, dynamic=False, fullgraph=True)
        try:
            return self._compiled(*args, **kwargs)
        except Exception as exc:  # no compiler, an unsupported op: fall back for good, once told
            self._failed = True
            warnings.warn(f"FFREPRO_COMPILE=1: compiling {self.fn.__name__} failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                          "running it uncompiled (same arithmetic). Install a C++ compiler (CPU) or Triton (GPU), or unset FFREPRO_COMPILE.",
                          RuntimeWarning, stacklevel=2)
            return self.fn(*args, **kwargs)
