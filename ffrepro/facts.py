"""The configuration facts the book's prose states, computed from the registry.

The book types no configuration value: :func:`config_facts` reads every value the text of
``book/notebooks/ff-intro.md`` names (widths, epochs, data, optimiser settings, which negatives
each entry uses) from :data:`ffrepro.registry.EXPERIMENTS`, and the notebook glues them into the
prose. :func:`profile_table` is the table of every experiment's three profiles, and
:func:`config_values` collects, per field and profile, every value the registry uses, so that
``tests/test_prose.py`` can reject a page that names any other.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pandas as pd

from ffrepro import paper
from ffrepro.config import PROFILES, DataConfig, FFConfig, OptimConfig, RunConfig, UnsupervisedFFConfig
from ffrepro.data import CIFAR10_TRAIN_SIZE, MNIST_OFFICIAL_TRAIN, MNIST_PIXELS, MNIST_SIDE, MNIST_TEST, NUM_CLASSES, TRAIN_SIZE
from ffrepro.registry import EXPERIMENTS, Experiment, all_ids, get_experiment

Value = str | int | float

# Hinton's released Matlab code (ffcode), which the paper's MNIST settings are compared with: its own
# run's depth, width and epochs (ffrepro.paper.FFCODE, with the rest of its settings). A fact about that
# code, not about ffrepro.
FFCODE = {k: paper.FFCODE[k][0] for k in ("depth", "width", "epochs")}

# The entries whose values the text quotes as "the" supervised FF, BP and unsupervised settings.
SUPERVISED = "mnist-ff-supervised"
FAST = "mnist-ff-supervised-fast"
HARD = "mnist-ff-hard-negatives"
BP = "mnist-bp"
UNSUPERVISED = "mnist-ff-unsupervised"

_FRACTION_WORDS = {
    Fraction(1): "all",
    Fraction(1, 2): "half",
    Fraction(1, 3): "a third",
    Fraction(2, 3): "two thirds",
    Fraction(1, 4): "a quarter",
    Fraction(3, 4): "three quarters",
}
_RATIO_WORDS = {Fraction(2): "twice", Fraction(3): "three times", Fraction(1, 2): "half"}


def fraction_words(x: float) -> str:
    """``1/3 -> "a third"``, ``0.5 -> "half"``, ``1.0 -> "all"``; other fractions as ``"p/q"``."""
    f = Fraction(x).limit_denominator(24)
    return _FRACTION_WORDS.get(f, f"{f.numerator}/{f.denominator}")


def ratio_words(x: float) -> str:
    """``2 -> "twice"``; other ratios as ``"N times"``."""
    f = Fraction(x).limit_denominator(24)
    return _RATIO_WORDS.get(f, f"{float(f):g} times")


def hidden_text(hidden: tuple[int, ...], local: bool = False) -> str:
    """``(2000,) * 4 -> "4 × 2000"`` (with no-break spaces); unequal or locally connected layers are listed."""
    if local:
        return ", ".join(map(str, hidden)) + " (local)"
    if len(set(hidden)) == 1:
        return f"{len(hidden)}\u00a0×\u00a0{hidden[0]}"  # no-break spaces: the table keeps "4 × 2000" on one line
    return ", ".join(map(str, hidden))


def examples(config: RunConfig, split: str) -> int:
    """Number of training (``split="train"``) or of validation and of test images (``"eval"``) a run uses."""
    if split == "train":
        return config.data.train_examples or (CIFAR10_TRAIN_SIZE if config.data.dataset == "cifar10" else TRAIN_SIZE)
    return config.data.eval_examples or MNIST_TEST  # both test sets have 10,000 images


def _is_local(config: RunConfig) -> bool:
    return bool(getattr(config.model, "local", ()))


def _unique(values: list[Value], what: str) -> Value:
    """The one value all entries share; the text states it once, so a disagreement must fail loudly."""
    distinct = sorted(set(values), key=str)
    if len(distinct) != 1:
        raise ValueError(f"the registry's entries disagree on {what}: {distinct}; update ff-intro's prose")
    return distinct[0]


def _join(ids: list[str]) -> str:
    return ", ".join(ids) if ids else "none"


def _experiment_default(name: str) -> Value:
    return next(f.default for f in dataclasses.fields(Experiment) if f.name == name)


# The settings ff-intro states as defaults, with the words it uses for them.
_DEFAULTS = {
    "data.batch_size": "minibatches of",
    "optim.lr": "learning rate",
    "optim.smoothing": "gradient smoothing",
    "optim.weight_decay": "weight decay",
    "optim.readout_lr": "readout learning rate",
    "optim.readout_weight_decay": "readout weight decay",
    "model.peer_normalization": "peer normalisation",
    "model.peer_momentum": "peer normalisation momentum",
    "model.threshold_per_unit": "threshold per unit",
    "model.label_strength": "label strength",
    "model.neutral_label": "neutral label",
    "model.goodness": "goodness",
}


def departures() -> str:
    """The entries whose paper configuration departs from the defaults of
    :mod:`ffrepro.config` in a setting :data:`_DEFAULTS` lists (for the BP baseline, whose optimiser
    the text states apart, only the batch size; peer normalisation switched off is stated apart too,
    by ``peer-off``)."""
    defaults = {"data": DataConfig(), "optim": OptimConfig(), "model": FFConfig()}
    parts = []
    for e in EXPERIMENTS.values():
        c = e.paper_config
        changed = []
        for key, words in _DEFAULTS.items():
            section, name = key.split(".")
            if section != "data" and not isinstance(c.model, FFConfig):
                continue  # the BP baseline's optimiser is stated apart
            value, default = getattr(getattr(c, section), name), getattr(defaults[section], name)
            if value != default and not (name == "peer_normalization" and value == 0):
                changed.append(f"{words} {value:g}" if isinstance(value, float) else f"{words} {value}")
        if changed:
            parts.append(f"{e.id} ({', '.join(changed)})")
    return "; ".join(parts) if parts else "none"


def config_facts() -> dict[str, Value]:
    """Every configuration fact that the book's prose states, keyed by its glue name.

    Keys (``ID`` is a registry id, ``P`` a profile):

    - ``ID-P-hidden`` (text), ``ID-P-epochs``, ``ID-P-train-examples``, ``ID-P-eval-examples``,
      ``ID-cpu-epoch-fraction`` (in words);
    - ``smoke-width``, ``smoke-epochs``, ``smoke-readout-epochs``, ``smoke-train-examples``,
      ``smoke-eval-examples``; ``cpu-width``, ``cpu-epoch-fraction`` (the defaults, in words),
      ``cpu-exceptions`` (entries with other cpu choices, in words), ``cpu-train-examples``,
      ``cpu-eval-examples``;
    - ``train-split``, ``val-split``, ``test-split``, ``num-classes``, ``num-pixels`` (MNIST);
    - the defaults of :mod:`ffrepro.config` (ffcode's settings): ``batch-size``, ``ff-lr``,
      ``ff-smoothing``, ``ff-smoothing-rest`` (1 - smoothing), ``ff-weight-decay``, ``readout-lr``,
      ``readout-weight-decay``, ``peer-normalization``, ``peer-momentum``, ``threshold-per-unit``,
      ``label-strength``, ``neutral-label``, ``label-step`` (strength - neutral value),
      ``goodness``; ``ff-departures`` (the entries that depart from them, and how);
      ``peer-off`` and ``peer-on`` (the FF entries without and with peer normalisation);
      ``first-scored-layer`` (1-based, of the supervised entries);
    - negatives: ``ID-negatives`` for every supervised entry, ``uniform-negatives`` and
      ``hard-negatives`` (the entries that use them);
    - the paper's FF net: ``ff-depth``, ``ff-width``, ``ff-epochs``; ``fast-lr``,
      ``fast-lr-ratio`` (in words), ``fast-epochs``; ``hard-epochs``, ``hard-epoch-fraction``
      (hard / supervised epochs, in words);
    - the BP baseline: ``bp-depth``, ``bp-width``, ``bp-optimizer``, ``bp-lr``,
      ``bp-weight-decay``, ``bp-epochs``;
    - unsupervised FF: ``unsupervised-epochs``, ``blur-steps``, ``readout-epochs``;
    - ``ffcode-depth``, ``ffcode-width``, ``ffcode-epochs`` (Hinton's code, see :data:`FFCODE`).
    """
    facts: dict[str, Value] = {}
    configs = {(e.id, p): e.config(p) for e in EXPERIMENTS.values() for p in PROFILES}
    for (exp_id, profile), c in configs.items():
        facts[f"{exp_id}-{profile}-hidden"] = hidden_text(c.model.hidden, _is_local(c))
        facts[f"{exp_id}-{profile}-epochs"] = c.optim.epochs
        facts[f"{exp_id}-{profile}-train-examples"] = examples(c, "train")
        facts[f"{exp_id}-{profile}-eval-examples"] = examples(c, "eval")
    for e in EXPERIMENTS.values():
        facts[f"{e.id}-cpu-epoch-fraction"] = fraction_words(e.cpu_epoch_fraction)

    # Profiles: the default rules, stated by the entries that follow them (an entry with its own scale
    # for a profile, e.g. CIFAR-10's, is listed among the exceptions instead).
    scaled = {(e.id, p) for e in EXPERIMENTS.values() for p in e.scales}
    configs_by_rule = {k: c for k, c in configs.items() if k not in scaled}
    smoke = [c for (_, p), c in configs_by_rule.items() if p == "smoke"]
    facts["smoke-width"] = _unique([w for c in smoke if not _is_local(c) for w in c.model.hidden], "the smoke width")
    facts["smoke-epochs"] = _unique([c.optim.epochs for c in smoke], "the smoke epochs")
    facts["smoke-readout-epochs"] = _unique(
        [c.model.readout_epochs for c in smoke if isinstance(c.model, UnsupervisedFFConfig)], "the smoke readout epochs"
    )
    for profile in ("smoke", "cpu"):
        of_profile = [c for (_, p), c in configs_by_rule.items() if p == profile]
        for split in ("train", "eval"):
            facts[f"{profile}-{split}-examples"] = _unique([examples(c, split) for c in of_profile], f"the {profile} {split} examples")
    facts["cpu-width"] = _experiment_default("cpu_width")
    facts["cpu-epoch-fraction"] = fraction_words(_experiment_default("cpu_epoch_fraction"))
    exceptions = []
    for e in EXPERIMENTS.values():
        local = _is_local(e.paper_config)
        if "cpu" in e.scales:
            c = configs[(e.id, "cpu")]
            exceptions.append(f"{e.id} (its locally connected maps, {examples(c, 'train'):,} training images, {c.optim.epochs} epochs)")
        elif local or e.cpu_width != facts["cpu-width"] or fraction_words(e.cpu_epoch_fraction) != facts["cpu-epoch-fraction"]:
            width = "its locally connected maps" if local else f"layers of {e.cpu_width} units"
            exceptions.append(f"{e.id} ({width}, {fraction_words(e.cpu_epoch_fraction)} of the epochs)")
    facts["cpu-exceptions"] = "; ".join(exceptions) if exceptions else "none"

    # MNIST.
    facts["train-split"] = TRAIN_SIZE
    facts["val-split"] = MNIST_OFFICIAL_TRAIN - TRAIN_SIZE
    facts["test-split"] = MNIST_TEST
    facts["num-classes"] = NUM_CLASSES
    facts["num-pixels"] = MNIST_PIXELS

    # FF settings: the defaults of ffrepro/config.py (ffcode's), and the entries that depart from them.
    ff = {e.id: e.paper_config for e in EXPERIMENTS.values() if isinstance(e.paper_config.model, FFConfig)}
    supervised = {i: c for i, c in ff.items() if c.method == "ff-supervised"}
    model, optim, data = FFConfig(), OptimConfig(), DataConfig()
    facts["batch-size"] = data.batch_size
    facts["ff-lr"] = optim.lr
    facts["ff-smoothing"] = optim.smoothing
    facts["ff-smoothing-rest"] = round(1 - optim.smoothing, 12)
    facts["ff-weight-decay"] = optim.weight_decay
    facts["readout-lr"] = optim.readout_lr
    facts["readout-weight-decay"] = optim.readout_weight_decay
    facts["peer-normalization"] = model.peer_normalization
    facts["peer-momentum"] = model.peer_momentum
    facts["threshold-per-unit"] = model.threshold_per_unit
    facts["label-strength"] = model.label_strength
    facts["neutral-label"] = model.neutral_label
    facts["label-step"] = round(model.label_strength - model.neutral_label, 12)
    facts["goodness"] = model.goodness.replace("_", " ")
    facts["ff-departures"] = departures()
    facts["peer-off"] = _join([i for i, c in ff.items() if c.model.peer_normalization == 0])
    facts["peer-on"] = _join([i for i, c in ff.items() if c.model.peer_normalization > 0])
    # The inference modes are those of supervised FF: the text states one first scored layer for all.
    facts["first-scored-layer"] = _unique([c.model.first_scored_layer + 1 for c in supervised.values()], "the first scored layer")

    # Negatives of the supervised entries.
    for exp_id, c in supervised.items():
        facts[f"{exp_id}-negatives"] = c.model.negative_labels
    for kind in ("uniform", "hard"):
        facts[f"{kind}-negatives"] = _join([i for i, c in supervised.items() if c.model.negative_labels == kind])

    # The paper's supervised FF net and its variants.
    sup = supervised[SUPERVISED]
    facts["ff-depth"] = len(sup.model.hidden)
    facts["ff-width"] = _unique(list(sup.model.hidden), "the supervised width")
    facts["ff-epochs"] = sup.optim.epochs
    facts["fast-lr"] = supervised[FAST].optim.lr
    facts["fast-lr-ratio"] = ratio_words(supervised[FAST].optim.lr / sup.optim.lr)
    facts["fast-epochs"] = supervised[FAST].optim.epochs
    facts["hard-epochs"] = supervised[HARD].optim.epochs
    facts["hard-epoch-fraction"] = fraction_words(supervised[HARD].optim.epochs / sup.optim.epochs)

    # The backprop baseline.
    bp = EXPERIMENTS[BP].paper_config
    facts["bp-depth"] = len(bp.model.hidden)
    facts["bp-width"] = _unique(list(bp.model.hidden), "the BP width")
    facts["bp-optimizer"] = {"adam": "Adam", "smoothed_sgd": "smoothed SGD"}[bp.optim.algorithm]
    facts["bp-lr"] = bp.optim.lr
    facts["bp-weight-decay"] = bp.optim.weight_decay
    facts["bp-epochs"] = bp.optim.epochs

    # Unsupervised FF.
    unsup = EXPERIMENTS[UNSUPERVISED].paper_config
    facts["unsupervised-epochs"] = unsup.optim.epochs
    facts["blur-steps"] = unsup.model.blur_steps
    facts["readout-epochs"] = unsup.model.readout_epochs

    facts.update({f"ffcode-{k}": v for k, v in FFCODE.items()})
    return facts


def profile_table() -> pd.DataFrame:
    """One row per (experiment, profile): hidden layers, epochs, data, learning rate."""
    rows = []
    for e in EXPERIMENTS.values():
        for profile in ("paper", "cpu", "smoke"):
            c = e.config(profile)
            readout = getattr(c.model, "readout_epochs", None)
            rows.append({
                "experiment": e.id,
                "profile": profile,
                "hidden layers": hidden_text(c.model.hidden, _is_local(c)),
                "epochs": c.optim.epochs,
                "readout epochs": "" if readout is None else readout,
                "training images": f"{examples(c, 'train'):,}",
                "evaluation images": f"{examples(c, 'eval'):,}",
                "learning rate": f"{c.optim.lr:g}",
            })
    return pd.DataFrame(rows).set_index(["experiment", "profile"])


def profile_table_markdown() -> str:
    """:func:`profile_table` as a MyST/GitHub markdown table."""
    table = profile_table().reset_index()
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def config_values() -> dict[str, dict[str, set[float]]]:
    """Every value the registry uses (entries and their variants), per field and profile (plus ``"any"``: all profiles).

    Fields: ``width``, ``depth``, ``epochs`` (training and readout), ``epoch_fraction`` (cpu
    fractions and ratios of epochs between the supervised entries), ``examples`` (also the MNIST
    split sizes), ``lr`` (also the readout's), ``weight_decay`` (also the readout's),
    ``batch_size``, ``threshold`` (per unit and per layer), ``smoothing``, ``momentum`` (peer
    momentum and smoothing), ``peer_normalization``, ``label_strength``, ``neutral_label``,
    ``blur_steps``; of the locally connected layers, ``map`` (the sides of their grids and windows,
    and of the image) and ``stride``, and their units per location count as ``width``.
    """
    values: dict[str, dict[str, set[float]]] = {}

    def add(field: str, profile: str, *vs: float) -> None:
        for p in (profile, "any"):
            values.setdefault(field, {}).setdefault(p, set()).update(float(v) for v in vs)

    for e in map(get_experiment, all_ids()):  # the entries and their variants
        for profile in PROFILES:
            c = e.config(profile)
            m, o = c.model, c.optim
            add("width", profile, *m.hidden)
            add("depth", profile, len(m.hidden))
            add("epochs", profile, o.epochs)
            add("examples", profile, examples(c, "train"), examples(c, "eval"), TRAIN_SIZE, MNIST_OFFICIAL_TRAIN - TRAIN_SIZE, MNIST_TEST)
            add("batch_size", profile, c.data.batch_size)
            add("lr", profile, o.lr)
            add("weight_decay", profile, o.weight_decay)
            if profile == "cpu":
                add("epoch_fraction", profile, e.cpu_epoch_fraction)
            if isinstance(m, FFConfig):
                add("lr", profile, o.readout_lr)
                add("weight_decay", profile, o.readout_weight_decay)
                add("smoothing", profile, o.smoothing)
                add("momentum", profile, m.peer_momentum, o.smoothing)
                add("peer_normalization", profile, m.peer_normalization)
                add("threshold", profile, m.threshold_per_unit, *(m.threshold_per_unit * h for h in m.hidden))
                add("label_strength", profile, m.label_strength)
                add("neutral_label", profile, m.neutral_label)
            if isinstance(m, UnsupervisedFFConfig):
                add("epochs", profile, m.readout_epochs)
                add("blur_steps", profile, m.blur_steps)
                add("map", profile, MNIST_SIDE)
                for spec in m.local:
                    add("width", profile, spec.channels)
                    add("map", profile, spec.grid, spec.window)
                    add("stride", profile, spec.stride)
    supervised = [e.paper_config.optim.epochs for e in EXPERIMENTS.values() if e.paper_config.method == "ff-supervised"]
    add("epoch_fraction", "paper", *(a / b for a in supervised for b in supervised if a <= b))
    return values

