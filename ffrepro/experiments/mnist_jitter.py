"""Supervised FF on jittered MNIST (paper section 3.3, Figure 2), and backprop on the same data."""

from __future__ import annotations

import dataclasses

from ffrepro.config import BPConfig, DataConfig, OptimConfig, RunConfig
from ffrepro.experiments.base import MNIST_TOLERANCE, Experiment, KnownGap
from ffrepro.experiments.mnist_supervised import FF_SUPERVISED

# The paper: the net of mnist-ff-supervised (4 x 2000, fully connected) trained for 500 epochs on
# images shifted by up to 2 pixels in each direction (25 shifts), 0.64 %. It does not say how many
# shifts one epoch covers. Ours: every image of every minibatch gets its own uniformly drawn shift, and
# an epoch is one pass over the 50,000 training images (data.jitter_passes = 1). So an epoch costs what
# an unjittered one costs (~9.5 TFLOP; the shift is one gather), 500 epochs show each image 500 times
# and each of its 25 shifts about 20 times, and "500 epochs" keeps the meaning it has everywhere else
# in the paper. Negatives, readout, optimiser and schedule are mnist-ff-supervised's (uniform wrong
# labels). The label goes into the first 10 pixels after the shift, so it never moves; validation and
# test images are not shifted. 500 x 9.5 = 4.75 PFLOP per seed: GPU work.
# cpu profile: layers of 1000 for 80 of the 500 epochs (~20-25 min on 2 idle cores), against
# mnist-ff-supervised's cpu profile (layers of 1000, 30 epochs).
FF_JITTER = dataclasses.replace(
    FF_SUPERVISED,
    data=dataclasses.replace(FF_SUPERVISED.data, jitter=2, jitter_passes=1),
    optim=dataclasses.replace(FF_SUPERVISED.optim, epochs=500),
)

# Backprop with the FF net's architecture (4 x 2000 ReLU, a softmax output), the recipe of mnist-bp
# (Adam, lr 0.001, minibatches of 100, the half-constant schedule). The paper compares FF's 0.64 % with
# "a CNN trained with backprop" and gives no number for a fully connected net on jittered data, so the
# jittered BP net is shown beside FF, not checked. Its unjittered twin is the control that gives BP's
# jitter gain. ~4.1 TFLOP an epoch at 4 x 2000 (forward and backward of 13.6M weights for 50k images).
BP_4X2000 = RunConfig(
    method="bp",
    data=DataConfig(batch_size=100),
    model=BPConfig(hidden=(2000, 2000, 2000, 2000)),
    optim=OptimConfig(epochs=20, algorithm="adam", lr=0.001, weight_decay=0.0),
)
# BP on jittered data: 100 epochs, five times the unjittered 20, since each epoch now shows every image
# in one of 25 positions (a choice; the paper is silent).
BP_JITTER = dataclasses.replace(
    BP_4X2000,
    data=dataclasses.replace(BP_4X2000.data, jitter=2),
    optim=dataclasses.replace(BP_4X2000.optim, epochs=100),
)

PLACE = 40  # this chapter's place in the registry: the order of the tables and of `make book` (ffrepro.registry)
EXPERIMENTS = [
    Experiment(
        id="mnist-ff-jitter",
        section="3.3",
        title="Supervised FF on MNIST jittered by up to 2 pixels, 500 epochs",
        paper_config=FF_JITTER,
        paper_value=0.64,
        metric="test.goodness",
        tolerance=MNIST_TOLERANCE,
        source="section 3.3, 0.64 % after 500 epochs of jittered data, 'similar to a CNN trained with backprop' (c)",
        comment="mnist-ff-supervised with data.jitter = 2: one random shift per image per epoch",
        cpu_width=1000,
        cpu_epoch_fraction=80 / 500,
        known_gaps={
            "paper": KnownGap(3.0, "The committed seeds stopped after 15, 19 and 24 of their 500 epochs (3-5 % of the "
            "schedule, still at its constant learning rate; no checkpoints survived), so they are held to where a "
            "net is that early, not to the paper's 0.64 %: they are worse than the finished cpu run, but better than "
            "that run was at the same fraction of its own 80 epochs (validation error 5.9-7.2 % after epochs 2-4). "
            "The MNIST paper-profile campaign trains all 500 epochs; this note goes when its seeds land."),
        },
    ),
    Experiment(
        id="mnist-bp-4x2000",
        section="3.1",
        title="Backprop with the FF net's architecture (4 x 2000), unjittered MNIST",
        paper_config=BP_4X2000,
        paper_value=1.4,
        metric="test.bp",
        tolerance=MNIST_TOLERANCE,
        source="section 3.1, 'about 1.4 %' for a sensible-sized fully connected net (c)",
        comment="the control for mnist-bp-jitter: the same net and recipe without shifts",
        cpu_width=1000,
        cpu_epoch_fraction=1.0,
    ),
    Experiment(
        id="mnist-bp-jitter",
        section="3.3",
        title="Backprop with the FF net's architecture (4 x 2000) on jittered MNIST",
        paper_config=BP_JITTER,
        paper_value=None,
        metric="test.bp",
        tolerance={},
        source="no number in the paper: it compares FF's 0.64 % with a CNN trained with backprop",
        comment="BP's jitter gain, measured against mnist-bp-4x2000",
        cpu_width=1000,
        cpu_epoch_fraction=30 / 100,
    ),
]
