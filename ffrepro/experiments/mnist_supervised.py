"""Supervised FF on MNIST (paper section 3.3): uniform and hard negative labels, twice the learning rate."""

from __future__ import annotations

import dataclasses

from ffrepro.config import DataConfig, FFConfig, OptimConfig, RunConfig
from ffrepro.experiments.base import MNIST_TOLERANCE, Experiment, KnownGap

# Supervised FF, paper section 3.3: 4 hidden layers of 2000 ReLUs, 60 epochs. The paper gives no
# optimiser details; these are ffcode's: minibatches of 100, lr 0.01 constant for half the epochs then
# decayed linearly, gradient smoothing 0.9, weight decay 0.001, peer normalisation 0.03, threshold =
# number of units, softmax readout (lr 0.1, decay 0.003) on layers 2..4. About 9.5 TFLOP an epoch:
# roughly 75 s an epoch on 2 CPU cores (~100 min in all), a few seconds on one H100.
FF_SUPERVISED = RunConfig(
    method="ff-supervised",
    data=DataConfig(batch_size=100),
    model=FFConfig(hidden=(2000, 2000, 2000, 2000), negative_labels="uniform"),
    optim=OptimConfig(epochs=60, lr=0.01),
)

PLACE = 30  # this chapter's place in the registry: the order of the tables and of `make book` (ffrepro.registry)
EXPERIMENTS = [
    Experiment(
        id="mnist-ff-supervised",
        section="3.3",
        title="Supervised FF: one-hot label in the first 10 pixels, wrong labels as negatives",
        paper_config=FF_SUPERVISED,
        paper_value=1.36,
        metric="test.goodness",
        tolerance=MNIST_TOLERANCE,
        source="section 3.3, 1.36 % after 60 epochs (c)",
        comment="uniform wrong labels; test error by accumulated goodness over layers 2..4",
    ),
    Experiment(
        id="mnist-ff-supervised-fast",
        section="3.3",
        title="Supervised FF with twice the learning rate, 40 epochs",
        paper_config=dataclasses.replace(FF_SUPERVISED, optim=dataclasses.replace(FF_SUPERVISED.optim, epochs=40, lr=0.02)),
        paper_value=1.46,
        metric="test.goodness",
        tolerance=MNIST_TOLERANCE,
        source="section 3.3, 1.46 % after 40 epochs at twice the learning rate (r)",
        comment="as mnist-ff-supervised with lr 0.02 and 40 epochs",
        known_gaps={
            "paper": KnownGap(0.45, "Three seeds on one H100 give 1.79 ± 0.05 %, 0.33 points above the paper's 1.46 %, which is "
            "recalled (r), not confirmed. With ffcode's recipe the doubled learning rate costs accuracy at both "
            "scales (cpu: 2.03 % against 1.75 % at the default rate; paper: 1.79 % against 1.50 % after 59 of 60 "
            "epochs), so the paper's fast run probably differed in a setting it does not state (schedule, "
            "smoothing or weight decay). Not yet searched."),
        },
    ),
    Experiment(
        id="mnist-ff-hard-negatives",
        section="3.3",
        title="Supervised FF with hard negative labels sampled from the net's own predictions",
        # The paper gives no separate number: hard negatives reach the error of mnist-ff-supervised
        # in about a third of the epochs, so we train 20 epochs and compare with its 1.36 %.
        paper_config=dataclasses.replace(
            FF_SUPERVISED,
            model=dataclasses.replace(FF_SUPERVISED.model, negative_labels="hard"),
            optim=dataclasses.replace(FF_SUPERVISED.optim, epochs=20),
        ),
        paper_value=1.36,
        metric="test.goodness",
        tolerance=MNIST_TOLERANCE,
        source="section 3.3, 'about a third of the epochs' to reach 1.36 % (r)",
        comment="negative label sampled from the softmax readout with the true class masked out; variant bf16: "
        "the same with bf16 products (model.precision), the validation of that precision (issue 12)",
        # bf16 products (ffrepro.ff.Bf16Linear) are about twice as fast on CPUs with bf16 units; no entry
        # uses them until this variant's seeds land within the spread of the fp32 seeds (book: supervised chapter)
        variants={"bf16": {"model.precision": "bf16"}},
    ),
    Experiment(
        id="mnist-ff-ffcode",
        section="3.3",
        title="Control: Hinton's released code's own setting, 3 x 1000 for 100 epochs with hard negatives",
        # ffcode's recipe is already FF_SUPERVISED's (ffrepro.paper.FFCODE); its own run differs in three things:
        # three hidden layers of 1000, 100 epochs, and hard negative labels (it never uses uniform ones).
        # Its reported results (FFCODE_REPORTED) are of that setting; the paper's 1.36 % is of 4 x 2000
        # with 60 epochs, so the control shows which of the two settings the paper's number resembles.
        paper_config=dataclasses.replace(
            FF_SUPERVISED,
            model=dataclasses.replace(FF_SUPERVISED.model, hidden=(1000, 1000, 1000), negative_labels="hard"),
            optim=dataclasses.replace(FF_SUPERVISED.optim, epochs=100),
        ),
        paper_value=1.36,
        metric="test.goodness",
        tolerance=MNIST_TOLERANCE,
        source="ffcode's setting; compared with section 3.3's 1.36 % (c); ffcode's own reported "
        "results: 1.44-1.47 % (Matlab), 1.65 % (another run), 1.33-1.34 % (a numpy port)",
        comment="ffcode's own run: 3 x 1000, 100 epochs, hard negatives; cpu: the same net for half the epochs",
    ),
]

# What ffcode's own runs are reported to reach at its setting (test error, %; ffrepro.paper shows them): not ours, shown
# beside mnist-ff-ffcode's results in the supervised chapter as the numbers to compare with.
FFCODE_REPORTED = {"Matlab": (1.44, 1.47), "another run": (1.65, 1.65), "a numpy port, 100 epochs": (1.33, 1.34)}
