"""Typed, frozen run configurations.

A run is described by a :class:`RunConfig`: which data, which network, which optimiser. Each
experiment in :mod:`ffrepro.registry` writes its ``paper`` configuration once; the ``cpu`` and
``smoke`` profiles are derived from it by :func:`derive_profile`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ffrepro.augment import check_jitter
from ffrepro.local import LocalSpec

Goodness = Literal["max_ssq", "min_ssq"]
NegativeLabels = Literal["uniform", "hard"]
Schedule = Literal["interleaved", "phases", "positive_only"]
SCHEDULES = ("interleaved", "phases", "positive_only")
BoxGradient = Literal["blocked", "straight_through"]  # how backprop treats a black box (ffrepro.blackbox)
BOX_GRADIENTS = ("blocked", "straight_through")
BoxKind = Literal["quantiser", "scrambled"]  # what a black box computes (ffrepro.blackbox)
BOX_KINDS = ("quantiser", "scrambled")
Precision = Literal["fp32", "bf16", "auto"]  # what an FF layer's matrix products run in (ffrepro.ff.Bf16Linear)
PRECISIONS = ("fp32", "bf16", "auto")
Method = Literal["ff-supervised", "ff-unsupervised", "ff-recurrent", "bp"]

PROFILES = ("smoke", "cpu", "paper")


class ConfigError(ValueError):
    """A bad experiment id, profile or parameter; the message lists the valid choices."""


@dataclass(frozen=True)
class DataConfig:
    """Which data set and how much of it (``None`` means all of it)."""

    dataset: Literal["mnist", "cifar10"] = "mnist"
    train_examples: int | None = None  # first N of the 50k training split
    eval_examples: int | None = None  # first N of validation and of test
    batch_size: int = 100
    # Translation jitter of the training images (paper section 3.3): each image of a minibatch is
    # shifted by its own random (dx, dy) in -jitter..jitter before the label is written in; 0 is off.
    # Validation and test images are never shifted.
    jitter: int = 0
    # How many times one epoch passes over the training set, each pass with fresh shifts. The paper
    # does not say how many of the 25 shifts an epoch covers; see mnist-ff-jitter's registry comment.
    jitter_passes: int = 1
    # Subtract each colour channel's mean and divide by its standard deviation, both measured on the
    # training split (CIFAR-10, whose raw pixels have a large shared offset that length normalisation
    # would otherwise spend most of its length on). MNIST is used as [0, 1] pixels, as in ffcode.
    standardize: bool = False


@dataclass(frozen=True)
class FFConfig:
    """A Forward-Forward network (paper section 2, Hinton's ``ffcode`` for what the paper omits)."""

    hidden: tuple[int, ...] = (2000, 2000, 2000, 2000)
    goodness: Goodness = "max_ssq"
    threshold_per_unit: float = 1.0  # threshold = this x number of units (RMS-normalised inputs)
    negative_labels: NegativeLabels = "uniform"
    label_strength: float = 1.0  # value of the one-hot label pixel
    neutral_label: float = 0.1  # each label pixel in the neutral (inference) input
    peer_normalization: float = 0.03  # lambdamean in ffcode; 0 switches it off
    peer_momentum: float = 0.9  # running mean of each unit's activity
    first_scored_layer: int = 1  # 0-based: layers >= this are summed / read out (skip layer 1)
    # When positive and negative data are learned (paper section 5, "sleep"). "interleaved": every
    # update sees a minibatch's positive and negative data together (ffcode). "phases": phase_length
    # positive-only updates ("day"), then phase_length negative-only updates on the same images with
    # negatives generated when the night comes ("night"), alternating; an epoch makes twice as many
    # updates, each on half the data, so every schedule sees each image once as positive and once as
    # negative data per epoch. "positive_only": the day updates alone, no negative data at all.
    schedule: Schedule = "interleaved"
    phase_length: int = 1  # minibatch updates per phase (schedule "phases")
    # Read by nothing: the memory study's autograd step (ffrepro.memory.ff_step) now takes its way through
    # the layers as an argument (issue 31). Kept because every results file records it (a field the code
    # no longer knows makes a different config); training's update is the same whatever it says.
    streaming: bool = False
    # A black box (ffrepro.blackbox, issue 11) after this hidden layer (1-based; 0: none): a fixed
    # random quantiser computed outside autograd between it and the next layer.
    black_box_after: int = 0
    # What the box computes: "quantiser", its units' activity rounded down (close to the identity);
    # "scrambled", the same after a fixed random permutation of the units with sign flips, for which the
    # identity is the wrong surrogate derivative (issue 31).
    black_box_kind: BoxKind = "quantiser"
    # What the dense layers' matrix products run in (issue 12). "fp32": everything in float32. "bf16":
    # each layer's forward product and weight gradient take bfloat16 inputs (accumulated in float32 by
    # the CPU's or GPU's bf16 units); weights, optimiser state, goodness, losses and the readout stay
    # float32. Validated against fp32 in the book before any entry uses it. "auto": bf16 where the method's
    # bf16 is validated (ffrepro.methods.METHODS) and the CPU or GPU has bf16 units, else fp32
    # (ffrepro.methods.run_precision); results keep "auto" in their config and what ran, and why, in
    # their provenance.
    precision: Precision = "fp32"


@dataclass(frozen=True)
class UnsupervisedFFConfig(FFConfig):
    """Unsupervised FF (paper section 3.2): real images are positive, hybrid images negative."""

    blur_steps: int = 10  # times the random bit image is blurred with [1/4, 1/2, 1/4] each way
    local: tuple[LocalSpec, ...] = ()  # locally connected layers (hidden must match their sizes)
    readout_epochs: int = 30  # linear softmax trained afterwards on the frozen, normalised activities


@dataclass(frozen=True)
class RecurrentFFConfig(FFConfig):
    """Recurrent FF with top-down connections (paper section 3.4): MNIST as a video of one image.

    The image is the bottom layer, a clamped one-hot label the top layer; it feeds the last hidden
    layer only. After one bottom-up pass, every hidden layer is recomputed ``iterations`` times, all at
    once, from the normalised states of the layers below and above at the previous step, and damped:
    new = damping x old + (1 - damping) x computed. Iterations are 1-based; windows are inclusive.
    """

    first_scored_layer: int = 0  # every hidden layer hears the label top-down, so all of them are scored
    negative_labels: NegativeLabels = "hard"  # the paper: wrong labels in proportion to the net's predictions
    iterations: int = 8
    damping: float = 0.3  # weight of the old pre-normalisation state
    loss_iterations: tuple[int, int] = (1, 8)  # (first, last) iteration whose goodness carries the loss
    test_window: tuple[int, int] = (3, 5)  # (first, last) iteration whose goodness is averaged at test
    negative_iterations: int = 1  # length of the all-label run whose goodness predicts the hard negatives
    # Locally connected maps (CIFAR-10, paper section 4): one LocalSpec per hidden layer for its
    # bottom-up weights; the top-down weights from the layer above use the same window over that
    # layer's map. Empty: fully connected (MNIST). hidden must equal the specs' sizes.
    local: tuple[LocalSpec, ...] = ()
    # The "one-pass softmax" test of paper section 4: a linear softmax on the normalised states of the
    # scored layers, averaged over test_window, when the net runs once with a neutral label (every
    # label unit equal); trained alongside the net on detached states (ffcode's readout recipe).
    softmax_readout: bool = False


@dataclass(frozen=True)
class BPConfig:
    """A fully connected ReLU net trained end to end with backprop (paper section 3.1)."""

    hidden: tuple[int, ...] = (1000, 1000, 1000)
    local: tuple[LocalSpec, ...] = ()  # locally connected layers, as the FF nets' (CIFAR-10); hidden must match
    black_box_after: int = 0  # as FFConfig's: a black box after this hidden layer (0: none)
    black_box_gradient: BoxGradient = "blocked"  # "blocked": nothing reaches the layers below; "straight_through"
    black_box_kind: BoxKind = "quantiser"  # as FFConfig's


@dataclass(frozen=True)
class OptimConfig:
    """Gradient smoothing SGD as in ffcode (or Adam for the BP baseline).

    The learning rate is constant for the first half of training and then decays linearly
    towards zero (ffcode's ``epsgain``).
    """

    epochs: int = 60
    algorithm: Literal["smoothed_sgd", "adam"] = "smoothed_sgd"
    lr: float = 0.01
    smoothing: float = 0.9  # ffcode's "delay": g_s = 0.9 g_s + 0.1 g
    weight_decay: float = 0.001
    readout_lr: float = 0.1
    readout_weight_decay: float = 0.003


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's result, apart from the seed."""

    method: Method
    data: DataConfig = field(default_factory=DataConfig)
    model: FFConfig | UnsupervisedFFConfig | RecurrentFFConfig | BPConfig = field(default_factory=FFConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (tuples become lists), so it compares equal to a config read from a results file."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "RunConfig":
        from ffrepro.methods import METHODS  # above this module: each method's record names its model config

        model_cls = METHODS[d["method"]].model
        model = dict(d["model"])
        model["hidden"] = tuple(model["hidden"])
        for name in ("loss_iterations", "test_window"):
            if name in model:
                model[name] = tuple(model[name])
        if "local" in model:
            model["local"] = tuple(LocalSpec(**spec) for spec in model["local"])
        return RunConfig(
            method=d["method"],
            data=DataConfig(**d["data"]),
            model=model_cls(**model),
            optim=OptimConfig(**d["optim"]),
        )


def same_config(stored: dict[str, Any], cfg: RunConfig) -> bool:
    """Whether a config read from a results file or checkpoint describes ``cfg``.

    A field added to the dataclasses after the file was written is missing from it; the file was made
    by code that behaved as the field's default does (new fields default to the old behaviour, e.g.
    ``data.jitter = 0``), so missing fields are filled with their defaults before comparing. A file
    with a field the code no longer knows is a different config.
    """
    try:
        a, b = RunConfig.from_dict(stored).to_dict(), cfg.to_dict()
    except (TypeError, KeyError, ValueError):
        return False
    if "auto" in (a["model"].get("precision"), b["model"].get("precision")):  # "auto" runs in fp32 or bf16: either is a run of it
        a["model"]["precision"] = b["model"]["precision"] = "auto"
    return a == b


def completed_with(result: dict[str, Any], cfg: RunConfig) -> bool:
    """Whether a results file's contents are a finished run of ``cfg`` (so it need not run again)."""
    return bool(result["complete"]) and same_config(result["config"], cfg)


def config_changes(base: RunConfig, cfg: RunConfig) -> dict[str, Any]:
    """The fields, dotted (``optim.lr``), whose value in ``cfg`` differs from ``base``'s, with ``cfg``'s
    values as plain JSON types, sorted; empty for the same configuration."""
    a, b = base.to_dict(), cfg.to_dict()
    out: dict[str, Any] = {} if a["method"] == b["method"] else {"method": b["method"]}
    for section in ("data", "model", "optim"):
        for name in sorted(set(a[section]) | set(b[section])):
            old, new = a[section].get(name, _ABSENT), b[section].get(name, _ABSENT)
            if old != new:
                out[f"{section}.{name}"] = None if new is _ABSENT else new
    return out


_ABSENT = object()  # a field one of two configs' classes lacks


def _parse_value(current: Any, text: str, declared: str) -> Any:
    """``text`` read as the type of a field whose value is ``current`` and whose annotation is ``declared``
    (a string such as ``"int | None"``); :class:`ValueError` saying what it expected."""
    if "None" in declared and text.lower() == "none":
        return None
    if isinstance(current, bool):
        if text.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text.lower() == "true"
    if isinstance(current, tuple):
        try:
            return tuple(int(v) for v in text.split("x" if "x" in text else ","))
        except ValueError:
            raise ValueError(f"expected whole numbers separated by x or commas (e.g. 500x500), got {text!r}") from None
    if isinstance(current, int) or (current is None and "int" in declared):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    return text


def override(config: RunConfig, assignments: dict[str, str]) -> RunConfig:
    """Return ``config`` with dotted ``section.field=value`` assignments applied.

    >>> override(cfg, {"optim.epochs": "3", "model.hidden": "500,500"})
    """
    for key, text in assignments.items():
        section, _, name = key.partition(".")
        sections = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "method"}
        if section not in sections or not name:
            valid = sorted(f"{s}.{f.name}" for s, obj in sections.items() for f in dataclasses.fields(obj))
            raise ConfigError(f"unknown parameter {key!r}; valid parameters: {', '.join(valid)}")
        obj = sections[section]
        declared = {f.name: str(f.type) for f in dataclasses.fields(obj)}
        if name not in declared:
            valid = sorted(f"{section}.{n}" for n in declared)
            raise ConfigError(f"unknown parameter {key!r}; valid {section} parameters: {', '.join(valid)}")
        if "LocalSpec" in declared[name]:
            raise ConfigError(f"{key} cannot be set with --set (it lists locally connected layers, LocalSpec); run an entry that has them, "
                              "e.g. mnist-ff-unsupervised-local, or add a variant in ffrepro/experiments")
        try:
            value = _parse_value(getattr(obj, name), text, declared[name])
        except ValueError as exc:
            raise ConfigError(f"bad value for {key}: {exc}") from exc
        config = dataclasses.replace(config, **{section: dataclasses.replace(obj, **{name: value})})
    validate(config)
    return config


def bf16_methods() -> list[str]:
    """The methods with bf16 products (:data:`ffrepro.methods.METHODS`' ``bf16``, validated or not)."""
    from ffrepro.methods import METHODS  # above this module: each method's record says whether it has bf16

    return [name for name, m in METHODS.items() if m.bf16 != "none"]


def validate(config: RunConfig) -> None:
    """Reject configurations that cannot train, naming the parameter and the fix."""
    problems = []
    if config.optim.epochs < 1:
        problems.append("optim.epochs must be >= 1")
    if config.data.dataset not in ("mnist", "cifar10"):
        problems.append(f"data.dataset must be mnist or cifar10, not {config.data.dataset!r}")
    if config.data.batch_size < 1:
        problems.append("data.batch_size must be >= 1")
    if any(h < 1 for h in config.model.hidden) or not config.model.hidden:
        problems.append("model.hidden must list at least one positive layer width")
    problems += _number_problems(config)
    if config.optim.lr <= 0:
        problems.append("optim.lr must be > 0")
    if config.optim.readout_lr <= 0:
        problems.append("optim.readout_lr must be > 0")
    for name in ("weight_decay", "readout_weight_decay"):
        if getattr(config.optim, name) < 0:
            problems.append(f"optim.{name} must be >= 0 (0 switches it off)")
    for name in ("train_examples", "eval_examples"):
        count = getattr(config.data, name)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            problems.append(f"data.{name} must be a number of images >= 1, or none for all of them, not {count!r}")
    try:
        check_jitter(config.data.jitter)
    except ValueError as exc:
        problems.append(f"data.{exc}")
    if not isinstance(config.data.jitter_passes, int) or config.data.jitter_passes < 1:
        problems.append(f"data.jitter_passes must be >= 1, not {config.data.jitter_passes!r}")
    if isinstance(config.model, FFConfig):
        m = config.model
        if m.goodness not in ("max_ssq", "min_ssq"):
            problems.append(f"model.goodness must be max_ssq or min_ssq, not {m.goodness!r}")
        if m.negative_labels not in ("uniform", "hard"):
            problems.append(f"model.negative_labels must be uniform or hard, not {m.negative_labels!r}")
        if m.schedule not in SCHEDULES:
            problems.append(f"model.schedule must be one of {', '.join(SCHEDULES)}, not {m.schedule!r}")
        if not isinstance(m.phase_length, int) or m.phase_length < 1:
            problems.append(f"model.phase_length must be a whole number of minibatches >= 1, not {m.phase_length!r}")
        if m.schedule != "interleaved" and config.method not in ("ff-supervised", "ff-unsupervised"):
            problems.append(f"model.schedule {m.schedule!r} is implemented for ff-supervised and ff-unsupervised only")
        if not 0 <= m.first_scored_layer < len(m.hidden):
            problems.append(f"model.first_scored_layer must be in [0, {len(m.hidden) - 1}]")
        if m.precision not in PRECISIONS:
            problems.append(f"model.precision must be {' or '.join(PRECISIONS)}, not {m.precision!r}")
        elif m.precision == "bf16" and (config.method not in bf16_methods() or getattr(m, "local", ())):
            problems.append(f"model.precision {m.precision!r} is implemented for the dense layers of {', '.join(bf16_methods())} nets only; use fp32")
    if isinstance(config.model, RecurrentFFConfig):
        m = config.model
        if m.iterations < 1:
            problems.append(f"model.iterations must be >= 1, not {m.iterations}")
        if not 0 <= m.damping < 1:
            problems.append(f"model.damping must be in [0, 1), not {m.damping}")
        for name in ("loss_iterations", "test_window"):
            window = getattr(m, name)
            if len(window) != 2 or not 1 <= window[0] <= window[1] <= m.iterations:
                problems.append(f"model.{name} must be (first, last) with 1 <= first <= last <= model.iterations = {m.iterations}, not {window}")
        if not 1 <= m.negative_iterations <= m.iterations:
            problems.append(f"model.negative_iterations must be in [1, model.iterations = {m.iterations}], not {m.negative_iterations}")
    local = getattr(config.model, "local", ())  # every kind of net may have locally connected layers
    if any(not isinstance(spec, LocalSpec) for spec in local):
        problems.append(f"model.local must list LocalSpec layers, not {local!r}; run an entry that has them, e.g. mnist-ff-unsupervised-local")
        local = ()
    box = getattr(config.model, "black_box_after", 0)
    if box and not (isinstance(box, int) and 1 <= box < len(config.model.hidden)):
        problems.append(f"model.black_box_after must sit between two hidden layers, in [1, {len(config.model.hidden) - 1}] (0: no box), not {box!r}")
    if box and (config.method not in ("ff-supervised", "ff-unsupervised", "bp") or local):
        problems.append("model.black_box_after is implemented for dense ff-supervised, ff-unsupervised and bp nets only")
    if getattr(config.model, "black_box_kind", "quantiser") not in BOX_KINDS:
        problems.append(f"model.black_box_kind must be {' or '.join(BOX_KINDS)}, not {config.model.black_box_kind!r}")
    if isinstance(config.model, BPConfig) and config.model.black_box_gradient not in BOX_GRADIENTS:
        problems.append(f"model.black_box_gradient must be {' or '.join(BOX_GRADIENTS)}, not {config.model.black_box_gradient!r}")
    if local and tuple(s.units for s in local) != config.model.hidden:
        problems.append(f"model.hidden {config.model.hidden} must equal the sizes of model.local {tuple(s.units for s in local)}")
    from ffrepro.methods import METHODS  # above this module: each method's record names its model config

    if config.method not in METHODS:
        problems.append(f"method must be one of {', '.join(METHODS)}, not {config.method!r}")
    elif type(config.model) is not METHODS[config.method].model:
        problems.append(f"method {config.method} needs a {METHODS[config.method].model.__name__} model, not {type(config.model).__name__}")
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))


def _number_problems(config: RunConfig) -> list[str]:
    """Every float field must be finite (``--set optim.lr=nan`` parses) and no count may be negative;
    the fields with a tighter range of their own are checked by :func:`validate` itself."""
    problems = []
    for section in ("data", "model", "optim"):
        obj = getattr(config, section)
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{section}.{f.name} must be a finite number, not {value}")
            elif isinstance(value, int) and not isinstance(value, bool) and value < 0 and f.name not in _OWN_RANGE:
                problems.append(f"{section}.{f.name} must be >= 0, not {value}")
    return problems


_OWN_RANGE = ("train_examples", "eval_examples", "jitter", "black_box_after", "first_scored_layer", "epochs", "batch_size",
              "jitter_passes", "phase_length", "iterations", "negative_iterations")  # validate names their ranges itself


@dataclass(frozen=True)
class ProfileScale:
    """How an entry's cheaper profile departs from :func:`derive_profile`'s default rules (each field
    None keeps the default): for nets whose cost the default rules do not tame (CIFAR-10's
    locally connected maps keep their width, so their cost falls only with data and epochs)."""

    train_examples: int | None = None  # first N training images
    eval_examples: int | None = None  # first N of each evaluated split
    epochs: int | None = None
    local: tuple[LocalSpec, ...] | None = None  # other locally connected maps; hidden follows their sizes
    hidden: tuple[int, ...] | None = None  # other dense layers (another depth too), e.g. a small net for a sweep

    def over(self, base: "ProfileScale | None") -> "ProfileScale":
        """This scale's fields where set, ``base``'s elsewhere (a study's variants on top of its entry's scale)."""
        return dataclasses.replace(base or ProfileScale(), **{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None})


def derive_profile(paper: RunConfig, profile: str, cpu_width: int, cpu_epoch_fraction: float, scale: ProfileScale | None = None) -> RunConfig:
    """Derive a cheaper profile from the paper configuration.

    ``smoke``: layers of 100 units, 3 epochs, 10,000 training and 10,000 evaluation examples
    (seconds, yet every inference mode ends well below chance).
    ``cpu``: layers of ``cpu_width`` units (same depth; locally connected nets keep their maps) and
    ``cpu_epoch_fraction`` of the epochs, all of the data, so that the whole book runs in about an
    hour on 2 cores.
    ``scale`` then overrides what it sets (data, epochs, maps) for either profile. A paper config's
    ``model.precision = "auto"`` becomes "fp32" in both.
    """
    if profile == "paper":
        return paper
    if profile not in ("smoke", "cpu"):
        raise ConfigError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    depth = len(paper.model.hidden)
    local = bool(getattr(paper.model, "local", ()))  # locally connected nets keep their maps
    if profile == "smoke":
        model = paper.model if local else dataclasses.replace(paper.model, hidden=(100,) * depth)
        data = dataclasses.replace(paper.data, train_examples=10_000, eval_examples=10_000)
        optim = dataclasses.replace(paper.optim, epochs=3)
        if hasattr(model, "readout_epochs"):
            model = dataclasses.replace(model, readout_epochs=3)
    else:
        model = paper.model if local else dataclasses.replace(paper.model, hidden=(cpu_width,) * depth)
        data = paper.data
        optim = dataclasses.replace(paper.optim, epochs=max(1, math.ceil(paper.optim.epochs * cpu_epoch_fraction)))
    if scale is not None:
        if scale.train_examples is not None or scale.eval_examples is not None:
            data = dataclasses.replace(data, train_examples=scale.train_examples or data.train_examples, eval_examples=scale.eval_examples or data.eval_examples)
        if scale.epochs is not None:
            optim = dataclasses.replace(optim, epochs=scale.epochs)
        if scale.local is not None:
            model = dataclasses.replace(model, local=scale.local, hidden=tuple(s.units for s in scale.local))
        if scale.hidden is not None:
            model = dataclasses.replace(model, hidden=scale.hidden)
    if getattr(model, "precision", None) == "auto":
        # "auto" is for the paper's scale: the smoke references are fp32 runs, and the cpu profile is where a
        # method's bf16 is validated against fp32, so both keep fp32 on every machine
        model = dataclasses.replace(model, precision="fp32")
    return dataclasses.replace(paper, model=model, data=data, optim=optim)
