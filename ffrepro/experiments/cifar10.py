"""CIFAR-10, paper section 4 and Table 1: locally connected recurrent FF (min ssq and max ssq) against
backprop, with two and three hidden layers. Six trained nets give Table 1's ten rows: each FF net is
tested two ways (goodness of every label, and a one-pass softmax), each BP net once."""

from __future__ import annotations

from ffrepro.config import BPConfig, DataConfig, OptimConfig, ProfileScale, RecurrentFFConfig, RunConfig
from ffrepro.experiments.base import Experiment
from ffrepro.local import LocalSpec

# Every hidden layer: a 32 x 32 map with 3 ReLUs per location (3072 units), each unit seeing an
# 11 x 11 patch of the map below, all its channels: 363 inputs, no weight sharing. Borders: the map
# below is padded with 5 zeros on every side, so every location has a unit and a border unit sees
# only the part of its window inside the map (a corner unit 6 x 6 x 3 = 108 real inputs); its weights
# onto the padding never receive a gradient. The paper does not say how it handled borders (r).
MAP = LocalSpec(grid=32, window=11, stride=1, channels=3, padding=5)

# What the paper states (section 4, Table 1; ffrepro.paper lists it): the maps above; FF nets recurrent
# as on MNIST with top-down inputs from the map above through the same 11 x 11 windows and the 10
# label units into the last hidden layer; 10 synchronous iterations; the goodness test averages
# iterations 4-6 (r); weight decay for FF and BP. Everything else is our choice:
# - Data: 45,000 training and 5,000 validation images (the last 5,000 of the official training set,
#   the same 90/10 cut as MNIST's 50k/10k), the 10,000 official test images. Each colour channel is
#   standardised with the training split's mean and std: raw pixels share a large offset (mean 0.47),
#   and the length normalisation of the image would spend most of its length on it.
# - The FF dynamics, losses and optimiser are mnist-ff-recurrent's (damping 0.3, a label-free initial
#   pass, separate top-down weights, hard negatives from the goodness after one iteration, loss on
#   every iteration 1-10, ffcode's smoothed SGD at lr 0.01 with weight decay 0.001, peer
#   normalisation 0.03, threshold = number of units). One method for MNIST and CIFAR-10, as the
#   paper says it is the same net.
# - min ssq: the same net with the logit's sign flipped (positive data should have a goodness below
#   the threshold); nothing else changes.
# - One-pass softmax: a linear softmax on the length-normalised states of every hidden layer,
#   averaged over iterations 4-6 of one run with a neutral label (all 10 label units equal), trained
#   alongside the net on detached states with ffcode's readout settings (lr 0.1, weight decay 0.003).
# - Epochs: 40 for FF, 20 for BP. The paper does not say. 40 FF epochs show each image 40 times
#   (MNIST's recurrent net: 60 x 50k); BP on these nets fits the training set within a few epochs
#   (the paper's 0 % and 2 % train error), so 20 are ample. The learning curves in the book show
#   whether the validation error had flattened.
# - BP: the same maps trained feed-forward with a softmax output, Adam at lr 0.001 with the same
#   halved-then-linear schedule as mnist-bp, and weight decay 0.0001 (as L2 in Adam).
#
# Cost (analytic, ffrepro.recurrent.flops; every weight counted once per use, border zeros included):
# each connection has 1024 x 363 x 3 = 1.1M weights. Per epoch of 45,000 images: FF with two layers
# 10.3 TFLOP (0.23 GFLOP an image: a positive and a negative video of 10 iterations, forward and
# weight gradients, the hard-negative prediction and the readout's neutral run), FF with three
# layers 20.0 TFLOP; BP 0.51 and 0.81 TFLOP. Testing an image with every label costs 0.49 and 0.97
# GFLOP. The code multiplies by the dense 3072 x 3072 matrices these weights are a sparse part of
# (ffrepro.local): 8.5x the multiply-adds above, yet 3-5x faster in a recurrent FF step than
# gathering patches on a CPU, and the shape a GPU's matmul units want.
FF_EPOCHS, BP_EPOCHS = 40, 20
CIFAR = DataConfig(dataset="cifar10", batch_size=100, standardize=True)
FF_OPTIM = OptimConfig(epochs=FF_EPOCHS, lr=0.01, weight_decay=0.001)
BP_OPTIM = OptimConfig(epochs=BP_EPOCHS, algorithm="adam", lr=0.001, weight_decay=0.0001)
TOLERANCE = {"paper": 3.0}  # +-3 points per test-error cell at the paper's scale (issue 9); cpu is not compared

# The cpu profile (all six nets within 90 minutes on 2 cores): the first 10,000 training images, the
# first 1,000 of validation and test (and of train, for the train error), 10 epochs for BP and 3 (two
# layers) or 2 (three layers) for FF. Measured on this project's 2-core AMD EPYC at 2 threads: a
# minibatch of 100 takes 1.6 s (FF, two layers), 3.1 s (three), 0.22 s and 0.36 s (BP); testing an
# image with every label 12 ms and 26 ms. It shows the methods learning CIFAR-10, not the paper's
# numbers (FF sees a sixtieth to a ninetieth of the paper profile's training); the book says so.
# The smoke profile, for the tests: the maps shrunk to 3 x 3 windows with one ReLU per location
# (hidden 1024 each), 2 epochs. Every error band of its references (ffrepro.references) should end 8
# binomial standard errors below the 90 % of guessing (tests/test_references.py::test_smoke_run_learns:
# 82.4 % for 1,000 evaluated images, 76.1 % for 300). Measured on this project's 2-core AMD EPYC:
# - BP: 5,000 training images, 1,000 evaluated. 9-20 s a run beside other jobs (the 2,000 images and
#   300 evaluated before: 9-10 s, but a test error of 71 % whose band ended at 83 %); test error
#   62-65 %, bands ending at 70-72 %.
# - FF: 2,000 training images, 300 evaluated. 15 s (two layers) and 26-38 s (three) of training at 2
#   threads on an idle machine; about 55 s a whole two-layer run at 1 thread beside other jobs, 20 s
#   of it the final test of 900 images with every label (100 steps of the net per image). The nets
#   learn the one-pass softmax (test error 62-77 %, bands too wide at 300 images), not yet the
#   goodness test (85-91 %). A goodness test that clears the line needs about 200 updates and 1,000
#   evaluated images (two layers, seed 0, beside other jobs: 10,000 images x 2 epochs gave 73 % in
#   185 s, 4,000 x 3 gave 77 % in 117 s, with the paper's 11 x 11 windows, as fast as 3 x 3 here; the
#   cpu profile's full maps 75 % after 100 updates, 85 % with three layers after 200): minutes a run
#   and up to an hour a reference, beyond the test suite's budget. A larger step does not buy it
#   either (2026-12-07, two layers, seed 0, 2,000 images x 2 epochs, 1,000 evaluated, one thread
#   beside other jobs): lr 0.05 gave 79.8 % and lr 0.2 76.5 % by goodness, each 2.5 min a run, 70-90 s
#   of it the test with every label, still short of the 82.4 % line once a band's width is added. A
#   smaller map is not available: the top-down connections reuse each layer's windows over the map
#   above (ffrepro.recurrent), so every map keeps the image's 32 x 32 grid. So the FF nets' modes are exempt
#   (EXEMPT in tests/test_references.py), and a bug that keeps the label from the net fails their
#   reference on the last layer's FF loss.
SMOKE_MAP = LocalSpec(grid=32, window=3, stride=1, channels=1, padding=1)


def _scales(depth: int, cpu_epochs: int, smoke_train: int = 2_000, smoke_eval: int = 300) -> dict[str, ProfileScale]:
    return {
        "cpu": ProfileScale(train_examples=10_000, eval_examples=1_000, epochs=cpu_epochs),
        "smoke": ProfileScale(train_examples=smoke_train, eval_examples=smoke_eval, epochs=2, local=(SMOKE_MAP,) * depth),
    }


def ff_config(depth: int, goodness: str) -> RunConfig:
    model = RecurrentFFConfig(
        hidden=(MAP.units,) * depth,
        local=(MAP,) * depth,
        goodness=goodness,  # type: ignore[arg-type]
        iterations=10,
        loss_iterations=(1, 10),
        test_window=(4, 6),
        softmax_readout=True,
    )
    return RunConfig(method="ff-recurrent", data=CIFAR, model=model, optim=FF_OPTIM)


def bp_config(depth: int) -> RunConfig:
    return RunConfig(method="bp", data=CIFAR, model=BPConfig(hidden=(MAP.units,) * depth, local=(MAP,) * depth), optim=BP_OPTIM)


# Table 1 as the paper prints it: (learning, testing, hidden layers) -> (train %, test %), each cell with
# how sure we are of it: (c) confirmed by independent summaries of the paper, (r) recalled
# (ffrepro.paper.MARKS; the book's page "The paper's numbers" shows the table).
TABLE1 = {
    ("BP", "", 2): ((0, "r"), (37, "c")),
    ("FF min ssq", "goodness", 2): ((20, "r"), (41, "c")),
    ("FF min ssq", "softmax", 2): ((31, "r"), (45, "r")),
    ("FF max ssq", "goodness", 2): ((25, "r"), (44, "r")),
    ("FF max ssq", "softmax", 2): ((33, "r"), (46, "r")),
    ("BP", "", 3): ((2, "r"), (39, "c")),
    ("FF min ssq", "goodness", 3): ((24, "r"), (41, "c")),
    ("FF min ssq", "softmax", 3): ((32, "r"), (44, "r")),
    ("FF max ssq", "goodness", 3): ((21, "r"), (44, "r")),
    ("FF max ssq", "softmax", 3): ((31, "r"), (46, "r")),
}


def entry_id(learning: str, depth: int) -> str:
    """Table 1's (learning, hidden layers) -> the registry id of the net that gives that row."""
    return f"cifar10-{learning.lower().replace(' ', '-')}-{depth}layers"


def _experiments() -> list[Experiment]:
    entries = []
    for depth in (2, 3):
        (_, bp_test) = TABLE1[("BP", "", depth)]
        entries.append(
            Experiment(
                id=entry_id("BP", depth),
                section="4",
                title=f"Backprop, locally connected, {depth} hidden layers (CIFAR-10)",
                paper_config=bp_config(depth),
                paper_value=bp_test[0],
                metric="test.bp",
                tolerance=TOLERANCE,
                source=f"Table 1, {bp_test[0]} % test error ({bp_test[1]})",
                comment=f"{depth} x (32 x 32 x 3) locally connected ReLU maps, 11 x 11 fields, softmax output; Adam, weight decay 1e-4, {BP_EPOCHS} epochs",
                scales=_scales(depth, cpu_epochs=10, smoke_train=5_000, smoke_eval=1_000),
            )
        )
        for goodness in ("min ssq", "max ssq"):
            learning = f"FF {goodness}"
            (_, test_g), (_, test_s) = TABLE1[(learning, "goodness", depth)], TABLE1[(learning, "softmax", depth)]
            entries.append(
                Experiment(
                    id=entry_id(learning, depth),
                    section="4",
                    title=f"Recurrent FF, {goodness}, locally connected, {depth} hidden layers (CIFAR-10)",
                    paper_config=ff_config(depth, goodness.replace(" ", "_")),
                    paper_value=test_g[0],
                    metric="test.goodness",
                    tolerance=TOLERANCE,
                    source=f"Table 1: goodness of every label {test_g[0]} % ({test_g[1]}), one-pass softmax {test_s[0]} % ({test_s[1]}) test error",
                    comment=f"{depth} x (32 x 32 x 3) maps, bottom-up and top-down 11 x 11 fields, the label into the last layer; "
                    f"10 iterations, loss on 1-10, test: goodness over iterations 4-6 and a one-pass softmax; {FF_EPOCHS} epochs",
                    also={"test.softmax": test_s[0]},
                    scales=_scales(depth, cpu_epochs=3 if depth == 2 else 2),
                )
            )
    return entries


PLACE = 60  # this chapter's place in the registry: the order of the tables and of `make book` (ffrepro.registry)
EXPERIMENTS = _experiments()
