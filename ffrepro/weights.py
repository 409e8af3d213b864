"""Weights packed into results files: rows of int8 with a scale per row, base64-encoded.

Its own module so that the figures, which unpack the weights a run kept, need not import training code.
"""

from __future__ import annotations

import base64
from typing import Any

import torch


def pack_weights(w: torch.Tensor) -> dict[str, Any]:
    """Rows of weights, compactly for a results file: each row scaled by its largest magnitude to
    int8 (-127..127; 1/254 of the row's range, plenty for a picture) and base64-encoded.
    w: (R, C) -> {"shape", "scale" (R floats), "int8_base64"}; :func:`unpack_weights` inverts it."""
    w = w.detach().float().cpu()
    scale = w.abs().amax(dim=1).clamp(min=1e-12)
    q = torch.round(w / scale[:, None] * 127).to(torch.int8)
    return {"shape": list(w.shape), "scale": [float(f"{v:.6g}") for v in scale.tolist()], "int8_base64": base64.b64encode(q.numpy().tobytes()).decode("ascii")}


def unpack_weights(packed: dict[str, Any]) -> torch.Tensor:
    """The (R, C) float tensor that :func:`pack_weights` stored (to within 1/254 of each row's range)."""
    rows, cols = packed["shape"]
    q = torch.frombuffer(bytearray(base64.b64decode(packed["int8_base64"])), dtype=torch.int8).reshape(rows, cols)
    return q.float() / 127 * torch.tensor(packed["scale"])[:, None]
