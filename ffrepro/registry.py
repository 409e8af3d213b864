"""The experiment registry, keyed by stable ids, one per experiment of the paper (or study of a claim).

Each chapter's entries live in a module of :mod:`ffrepro.experiments`; every entry writes its
``paper`` configuration once, as the paper (and, where it is silent, Hinton's released ``ffcode``)
describes it, and derives ``cpu`` and ``smoke`` from it. A new chapter adds a module there, with its
``EXPERIMENTS`` and its ``PLACE`` in the registry's order; :data:`CHAPTERS` finds it. Each entry's ``paper_value`` and ``source`` are the paper's number and
where the paper states it, marked (c) confirmed or (r) recalled; :mod:`ffrepro.paper` gathers them
with the rest of what the book cites about the paper (Table 1, ffcode's settings), and the book's
page "The paper's numbers" shows them.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import ffrepro.experiments
from ffrepro.config import ConfigError
from ffrepro.experiments.base import Experiment

__all__ = ["CHAPTERS", "EXPERIMENTS", "Experiment", "all_ids", "get_experiment", "variant_ids"]


def _chapters() -> tuple[ModuleType, ...]:
    """Every module of :mod:`ffrepro.experiments` but ``base``, in the order of their ``PLACE``."""
    found = [importlib.import_module(f"ffrepro.experiments.{m.name}") for m in pkgutil.iter_modules(ffrepro.experiments.__path__) if m.name != "base"]
    if missing := [m.__name__ for m in found if not isinstance(getattr(m, "PLACE", None), int) or not hasattr(m, "EXPERIMENTS")]:
        raise ConfigError(f"experiments modules {missing} need EXPERIMENTS and an int PLACE (their place in the registry's order)")
    places = [m.PLACE for m in found]
    if len(set(places)) != len(places):
        raise ConfigError(f"two experiments modules share a PLACE: {sorted(p for p in places if places.count(p) > 1)}")
    return tuple(sorted(found, key=lambda m: m.PLACE))


CHAPTERS = _chapters()  # the order of tables and of `make book`

EXPERIMENTS: dict[str, Experiment] = {e.id: e for chapter in CHAPTERS for e in chapter.EXPERIMENTS}


def get_experiment(exp_id: str) -> Experiment:
    """A registry entry by id, or one of its variants by "ID/VARIANT" (see ``Experiment.variants``)."""
    base, _, variant = exp_id.partition("/")
    try:
        exp = EXPERIMENTS[base]
    except KeyError:
        raise ConfigError(f"unknown experiment {base!r}; valid ids: {', '.join(EXPERIMENTS)}") from None
    return exp.variant(variant) if variant else exp


def variant_ids(exp_id: str) -> list[str]:
    """The ids ("ID/VARIANT") of an entry's variants, in the order the entry lists them."""
    return [f"{exp_id}/{name}" for name in get_experiment(exp_id).variants]


def all_ids() -> list[str]:
    """Every entry, each followed by its variants: what `make book` runs and the book reads."""
    return [v for exp_id in EXPERIMENTS for v in (exp_id, *variant_ids(exp_id))]
