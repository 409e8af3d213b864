"""What a run costs: analytic training FLOPs per example for every method, and the throughput a
finished run achieved (issue 12's run-time table).

FLOPs count 2 per multiply-add of the layers' products, the work of the plain way (each labelled copy
multiplied out); the update shares work (ffrepro.ff.labelled_first) and computes the same numbers with
less, so its throughput is "effective". Element-wise work (normalisation, losses, the optimiser) is not counted.
"""

from __future__ import annotations

from typing import Any

from ffrepro.config import BPConfig, FFConfig, RunConfig
from ffrepro.data import INPUTS, NUM_CLASSES, TRAIN_SIZES
from ffrepro.ff import image_shape
from ffrepro.local import map_shapes


def layer_weights(n_in: int, cfg: FFConfig | BPConfig) -> list[int]:
    """Weights of each hidden layer's bottom-up map: dense, or locally connected where ``local`` is set."""
    local = getattr(cfg, "local", ())
    if local:
        shapes = map_shapes(image_shape(n_in), local)
        return [s.weights(shapes[i][0]) for i, s in enumerate(local)]
    sizes = (n_in, *cfg.hidden)
    return [a * b for a, b in zip(sizes[:-1], sizes[1:])]


def local_maps(cfg: RunConfig) -> list[tuple[tuple[int, int, int], Any]]:
    """(input shape (C, H, W), spec) of every locally connected map a config multiplies by: each layer's
    bottom-up map and, in recurrent FF, the top-down map into each layer from the map above it, through
    the same window. Empty for dense nets."""
    local = getattr(cfg.model, "local", ())
    if not local:
        return []
    shapes = map_shapes(image_shape(INPUTS[cfg.data.dataset]), local)
    maps = [(shapes[i], spec) for i, spec in enumerate(local)]
    if cfg.method == "ff-recurrent":
        maps += [(shapes[i + 2], spec) for i, spec in enumerate(local[:-1])]
    return maps


def ff_flops(n_in: int, cfg: FFConfig, supervised: bool) -> float:
    """Training FLOPs per example of a feed-forward FF net. Supervised: a neutral-label pass (for the
    readout and hard negatives), the positive and the negative pass, and their weight gradients (inputs
    are detached, so no input gradients): 5 products per weight; with the schedule "phases" and hard
    negatives the night makes its own neutral pass (6). Unsupervised: positive and negative passes and
    their weight gradients (4); its linear readout, trained afterwards, is not counted."""
    weights = sum(layer_weights(n_in, cfg))
    if not supervised:
        return 2.0 * 4 * weights
    passes = 6 if cfg.schedule == "phases" and cfg.negative_labels == "hard" else 5
    readout = 2 * sum(cfg.hidden[cfg.first_scored_layer :]) * NUM_CLASSES  # forward and weight gradient
    return 2.0 * (passes * weights + readout)


def train_flops_per_example(cfg: RunConfig) -> float:
    """Analytic training FLOPs per training example (one pass of one image) of any registered method
    (its record's ``flops``: :data:`ffrepro.methods.METHODS`)."""
    from ffrepro.methods import METHODS  # above this module: each method's record names its FLOPs

    return METHODS[cfg.method].flops(INPUTS[cfg.data.dataset], cfg.model)


def epoch_examples(cfg: RunConfig) -> int:
    """Training examples one epoch shows (the training split, or its first ``train_examples``, times
    ``jitter_passes``)."""
    return (cfg.data.train_examples or TRAIN_SIZES[cfg.data.dataset]) * cfg.data.jitter_passes


def achieved(result: dict[str, Any]) -> dict[str, float]:
    """A results file's training cost: TFLOP per epoch (analytic), seconds per epoch (measured, the
    mean over its epochs, validation included) and the achieved TFLOP/s."""
    cfg = RunConfig.from_dict(result["config"])
    tflop = train_flops_per_example(cfg) * epoch_examples(cfg) / 1e12
    seconds = [h["seconds"] for h in result["history"] if "seconds" in h]
    per_epoch = sum(seconds) / len(seconds) if seconds else result["wall_time_s"]["train"] / max(1, result["epochs_done"])
    return {"tflop_per_epoch": tflop, "seconds_per_epoch": per_epoch, "tflops": tflop / per_epoch if per_epoch > 0 else float("nan")}
