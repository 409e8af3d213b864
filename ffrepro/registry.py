"""The experiment registry, keyed by the stable ids of ../shared/PAPER.md.

Each chapter's entries live in a module of :mod:`ffrepro.experiments`; every entry writes its
``paper`` configuration once, as the paper (and, where it is silent, Hinton's released ``ffcode``)
describes it, and derives ``cpu`` and ``smoke`` from it. A new chapter adds a module there and one
line to :data:`CHAPTERS`.
"""

from __future__ import annotations

from ffrepro.config import ConfigError
from ffrepro.experiments import cifar10, mnist_bp, mnist_jitter, mnist_recurrent, mnist_supervised, mnist_unsupervised
from ffrepro.experiments.base import Experiment

__all__ = ["CHAPTERS", "EXPERIMENTS", "Experiment", "get_experiment"]

CHAPTERS = (mnist_bp, mnist_unsupervised, mnist_supervised, mnist_jitter, mnist_recurrent, cifar10)  # the order of tables and of `make book`

EXPERIMENTS: dict[str, Experiment] = {e.id: e for chapter in CHAPTERS for e in chapter.EXPERIMENTS}


def get_experiment(exp_id: str) -> Experiment:
    try:
        return EXPERIMENTS[exp_id]
    except KeyError:
        raise ConfigError(f"unknown experiment {exp_id!r}; valid ids: {', '.join(EXPERIMENTS)}") from None
