"""The paper's facts that the book cites, kept inside the repository.

Every number the book compares with comes from here or from the registry: each entry's
``paper_value`` and ``source`` (where the paper states the number, with a mark of how sure we are
of it), CIFAR-10's Table 1 (:data:`ffrepro.experiments.cifar10.TABLE1`, every cell marked), the
settings of Hinton's released Matlab code (*ffcode*, :data:`FFCODE`), which fill in what the paper
leaves open, what ffcode's own runs are reported to reach
(:data:`ffrepro.experiments.mnist_supervised.FFCODE_REPORTED`), and what other public reproductions
report (:data:`REPRODUCTIONS`).

The paper's own text was not at hand when these numbers were collected, so each carries a mark
(:data:`MARKS`): (c) where independent summaries of the paper agree on it, (r) where it is recalled.
The book's page "The paper's numbers" (``book/notebooks/paper-numbers.md``) shows the tables of
this module; the chapters point to it instead of to any file outside the repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from ffrepro.config import DataConfig, FFConfig, OptimConfig
from ffrepro.data import TRAIN_SIZE
from ffrepro.experiments.cifar10 import TABLE1, entry_id
from ffrepro.experiments.mnist_supervised import FFCODE_REPORTED
from ffrepro.registry import EXPERIMENTS

PAPER = 'G. Hinton, "The Forward-Forward Algorithm: Some Preliminary Investigations", arXiv:2212.13345 (2022)'

# How sure we are of a number attributed to the paper, by its mark.
MARKS = {
    "c": "confirmed: two or more independent summaries of the paper give it",
    "r": "recalled: from the paper, with one confirming source or none",
}
_MARK_RE = re.compile(r"\((c|r)\)")

# Hinton's released Matlab code (ffcode), read for its settings, not copied: the public copy read.
FFCODE_SOURCE = "the GitHub repository alessiopittiglio/forward-forward-matlab, folder src/hinton_forward_forward"
# ffcode's settings: key -> (value, what it is).
# The keys that name a field of ffrepro.config are the defaults there, and its training images are
# ffrepro.data.TRAIN_SIZE (tests/test_chapter_content.py checks that they agree); depth, width, epochs
# and negative labels are those of ffcode's own run, the control entry mnist-ff-ffcode.
FFCODE: dict[str, tuple[float | int | str, str]] = {
    "depth": (3, "hidden layers"),
    "width": (1000, "ReLUs per hidden layer"),
    "epochs": (100, "epochs"),
    "train_examples": (50_000, "training images (the rest of MNIST's 60,000 validate)"),
    "batch_size": (100, "images per minibatch"),
    "threshold_per_unit": (1.0, "threshold per unit: a layer's threshold is its number of units"),
    "lr": (0.01, "learning rate, constant for the first half of the epochs, then linearly down to 0"),
    "smoothing": (0.9, "gradient smoothing (a running average of the gradient, like momentum)"),
    "weight_decay": (0.001, "weight decay"),
    "peer_normalization": (0.03, "peer normalisation: each unit's running mean activity pulled towards the layer's"),
    "readout_lr": (0.1, "learning rate of the softmax readout (on the normalised activities of hidden layers 2 and up)"),
    "readout_weight_decay": (0.003, "weight decay of the softmax readout"),
    "neutral_label": (0.1, "value of every label pixel in the neutral label"),
    "negative_labels": ("hard", "negative labels: always sampled from the readout's softmax, the true class masked out"),
    "init": ("randn / sqrt(fan-in)", "initial weights"),
}
# Where each config field of FFCODE lives in ffrepro.config (the default it must equal).
FFCODE_DEFAULTS = {
    "batch_size": (DataConfig, "batch_size"),
    "threshold_per_unit": (FFConfig, "threshold_per_unit"),
    "lr": (OptimConfig, "lr"),
    "smoothing": (OptimConfig, "smoothing"),
    "weight_decay": (OptimConfig, "weight_decay"),
    "peer_normalization": (FFConfig, "peer_normalization"),
    "readout_lr": (OptimConfig, "readout_lr"),
    "readout_weight_decay": (OptimConfig, "readout_weight_decay"),
    "neutral_label": (FFConfig, "neutral_label"),
}

# The sampling error of a test error near 1.4 % on MNIST's 10,000 test images, in points.
TEST_SAMPLING_ERROR = 0.12


@dataclass(frozen=True)
class Reproduction:
    """A result another public reproduction reports (measured by its authors, not re-run here)."""

    key: str  # how the book's pages name it
    what: str
    who: str
    setting: str
    result: str  # as its authors report it
    value: float | None  # the number in ``result``, for the pages' text; None where there is none
    compared: str  # what the paper reports for the same experiment: a registry id, or "table1-ff" / "table1-bp"


REPRODUCTIONS = (
    Reproduction("recurrent-mnist", "recurrent MNIST", "cybertronai/hinton-problems (numpy, laptop CPU)",
                 "784-500-500-10, 8 iterations, 20 epochs", "10.66 % test error", 10.66, "mnist-ff-recurrent"),
    Reproduction("cifar-ff", "CIFAR-10, locally connected FF", "cybertronai/hinton-problems",
                 "2 layers, feed-forward only, 10k images, 10 epochs", "about 77 % test error", 77, "table1-ff"),
    Reproduction("cifar-bp", "CIFAR-10, backprop on the same stack", "cybertronai/hinton-problems", "as above",
                 "about 62 % test error", 62, "table1-bp"),
    Reproduction("recurrent-ff", "recurrent FF", "and-rewsmith/RecurrentForwardForward", "3 x 2000, inverted objective, 10 iterations",
                 '"98 %+" accuracy', None, "mnist-ff-recurrent"),
    Reproduction("jitter", "jittered MNIST with FF", "none found", "", "", None, "mnist-ff-jitter"),
)


def reproduction(key: str) -> Reproduction:
    """The entry of :data:`REPRODUCTIONS` with ``key``."""
    return next(r for r in REPRODUCTIONS if r.key == key)


def table1_range(learner: str, column: str = "test") -> tuple[float, float]:
    """The lowest and highest of Table 1's ``column`` ("train" or "test") cells of ``learner``
    ("FF": both goodness functions and both tests; "BP"), over both depths."""
    index = 0 if column == "train" else 1
    cells = [row[index][0] for (learning, _, _), row in TABLE1.items() if learning.startswith(learner)]
    return min(cells), max(cells)


def paper_number(compared: str) -> str:
    """What the paper reports for :attr:`Reproduction.compared`: "1.31 %", or a range of Table 1, "41-46 %"."""
    if compared.startswith("table1-"):
        low, high = table1_range(compared.removeprefix("table1-").upper())
        return f"{low:g}-{high:g} %"
    return f"{EXPERIMENTS[compared].paper_value:g} %"


def marks(source: str) -> str:
    """The marks a ``source`` string carries, in order and without repeats: ``"c"``, ``"r"``,
    ``"c, r"``, or ``""`` where it names no number of the paper."""
    return ", ".join(dict.fromkeys(_MARK_RE.findall(source)))


def entries_table() -> pd.DataFrame:
    """One row per registry entry: its section, the paper's test error (% ; the one-pass softmax's
    beside it where the paper reports both), the marks of its source, and the source itself."""
    rows = []
    for e in EXPERIMENTS.values():
        also = ", ".join(f"{metric.split('.')[-1]}: {value:g}" for metric, value in e.also.items())
        rows.append({
            "experiment": e.id,
            "section": e.section,
            "paper's test error %": "none" if e.paper_value is None else f"{e.paper_value:g}" + (f" ({also})" if also else ""),
            "mark": marks(e.source) or "-",
            "source": e.source,
        })
    return pd.DataFrame(rows).set_index("experiment")


def table1() -> pd.DataFrame:
    """CIFAR-10's Table 1 as the paper prints it, each cell with its mark, and the registry entry
    whose results give the row."""
    testing = {"goodness": "compute goodness for every label", "softmax": "one-pass softmax", "": ""}
    rows = [{
        "learning": learning, "testing": testing[test], "hidden layers": depth,
        "train %": f"{train[0]:g} ({train[1]})", "test %": f"{test_[0]:g} ({test_[1]})",
        "registry entry": entry_id(learning, depth),
    } for (learning, test, depth), (train, test_) in TABLE1.items()]
    return pd.DataFrame(rows)


def ffcode_table() -> pd.DataFrame:
    """ffcode's settings: the value in ffcode and, for those that are ffrepro's defaults, the default
    in :mod:`ffrepro.config` (equal by test)."""
    rows = []
    for key, (value, words) in FFCODE.items():
        if key in FFCODE_DEFAULTS:
            cls, name = FFCODE_DEFAULTS[key]
            ours = f"{cls.__name__}.{name} = {getattr(cls(), name)!r}"
        elif key == "train_examples":
            ours = f"ffrepro.data.TRAIN_SIZE = {TRAIN_SIZE:,}"
        elif key in ("depth", "width", "epochs", "negative_labels"):
            ours = "mnist-ff-ffcode"
        else:
            ours = ""
        rows.append({"setting": words, "ffcode": f"{value:,}" if isinstance(value, int) else f"{value}", "in ffrepro": ours})
    return pd.DataFrame(rows).set_index("setting")


def ffcode_reported_table() -> pd.DataFrame:
    """What ffcode's own runs are reported to reach at its own setting (test error, %)."""
    rows = [{"run": run, "test error %": f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"} for run, (lo, hi) in FFCODE_REPORTED.items()]
    return pd.DataFrame(rows).set_index("run")


def reproductions_table() -> pd.DataFrame:
    """:data:`REPRODUCTIONS` as a table, each beside the paper's number for the same experiment."""
    rows = [{"what": r.what, "who": r.who, "setting": r.setting, "result": r.result, "paper's number": paper_number(r.compared)}
            for r in REPRODUCTIONS]
    return pd.DataFrame(rows).set_index("what")


def citation_facts() -> dict[str, str | float]:
    """The paper's and others' numbers the chapters quote in their text, keyed by glue name:
    ``repro-KEY`` (a reproduction's number, :data:`REPRODUCTIONS`), Table 1's test-error ranges of
    FF and BP (``table1-ff-range``, ``table1-bp-range``, "41-46") and the BP rows' train errors by
    depth (``table1-bp-train-2``, ``table1-bp-train-3``)."""
    out: dict[str, str | float] = {f"repro-{r.key}": r.value for r in REPRODUCTIONS if r.value is not None}
    for learner in ("FF", "BP"):
        low, high = table1_range(learner)
        out[f"table1-{learner.lower()}-range"] = f"{low:g}-{high:g}"
    for (learning, _, depth), ((train, _), _) in TABLE1.items():
        if learning == "BP":
            out[f"table1-bp-train-{depth}"] = train
    return out


def page_facts() -> dict[str, str | float]:
    """The values the page glues: the paper's reference, where ffcode was read, the marks' meanings
    (``mark-c``, ``mark-r``), the test set's sampling error, and how many registry entries carry a
    number of the paper (``entries-with-number``) and of Table 1's cells are confirmed
    (``table1-confirmed``, of ``table1-cells``)."""
    cells = [cell for train_test in TABLE1.values() for cell in train_test]
    return {
        "paper": PAPER,
        "ffcode-source": FFCODE_SOURCE,
        "mark-c": MARKS["c"],
        "mark-r": MARKS["r"],
        "test-sampling-error": TEST_SAMPLING_ERROR,
        "entries": len(EXPERIMENTS),
        "entries-with-number": sum(e.paper_value is not None for e in EXPERIMENTS.values()),
        "table1-cells": len(cells),
        "table1-confirmed": sum(mark == "c" for _, mark in cells),
    }
