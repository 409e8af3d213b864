"""A black box inside the network (the seed's claim, issue 11): FF learns through a step it cannot
differentiate; backprop cannot, unless told to pass its gradient straight through."""

from __future__ import annotations

import dataclasses

from ffrepro.config import ProfileScale
from ffrepro.experiments.base import Experiment
from ffrepro.experiments.mnist_jitter import BP_4X2000
from ffrepro.experiments.mnist_supervised import FF_SUPERVISED

# The claim (one of the points a blog post on FF makes; the paper's motivation says FF can learn when the details of
# the forward computation are unknown (r)): no numbers anywhere. Our choices:
# - The box (ffrepro.blackbox): a fixed random quantiser computed in numpy between hidden layers 2
#   and 3 of the 4-layer nets; each unit's activity, in units of its row's RMS, rounded down to a
#   multiple of its own random step in [0.25, 1]: it keeps most of the information, but autograd
#   sees no operation at all.
# - FF: mnist-ff-supervised's net and recipe with the box; BP: mnist-bp-4x2000's net and recipe with
#   the box ("blocked": layers 1-2 keep their random initial weights, only layers 3-4 and the output
#   learn), and with a straight-through gradient (the box's backward taken as the identity), the
#   fair comparison. Each has a "no-box" variant: the same net, budget and seed without the box.
# - The scrambled box (issue 31): the units permuted and half of them sign-flipped (fixed, from the
#   box's seed) before the same quantiser. It loses no more than the quantiser does, but a
#   straight-through gradient now takes the wrong derivative: FF's "scrambled" variant and BP's
#   "scrambled-straight-through" measure what that costs each learner.
# - paper: 4 x 2000, FF 60 epochs, BP 20 (their entries'). cpu: 4 x 500 for 10 epochs each, so the
#   study (five runs) takes about 15 minutes on 2 cores. smoke: the default rules.
BOX_AFTER = 2
CPU = ProfileScale(hidden=(500, 500, 500, 500), epochs=10)
NO_BOX = {"model.black_box_after": "0"}
SCRAMBLED = {"model.black_box_kind": "scrambled"}  # the box that the identity is the wrong surrogate for (issue 31)

PLACE = 80  # this chapter's place in the registry: the order of the tables and of `make book` (ffrepro.registry)
EXPERIMENTS = [
    Experiment(
        id="mnist-ff-blackbox",
        section="seed",
        title="Supervised FF with a black box (a numpy quantiser) between hidden layers 2 and 3",
        paper_config=dataclasses.replace(FF_SUPERVISED, model=dataclasses.replace(FF_SUPERVISED.model, black_box_after=BOX_AFTER)),
        paper_value=None,
        metric="test.goodness",
        tolerance={},
        source="the seed's claim that a black box does not stop FF; no numbers",
        comment="mnist-ff-supervised with the box; variants no-box: the same without it, scrambled: the scrambled box",
        scales={"cpu": CPU},
        variants={"no-box": NO_BOX, "scrambled": SCRAMBLED},
    ),
    Experiment(
        id="mnist-bp-blackbox",
        section="seed",
        title="Backprop with the same black box: only the layers above it learn, or a straight-through gradient",
        paper_config=dataclasses.replace(BP_4X2000, model=dataclasses.replace(BP_4X2000.model, black_box_after=BOX_AFTER)),
        paper_value=None,
        metric="test.bp",
        tolerance={},
        source="the seed's claim that backprop cannot pass a black box; no numbers",
        comment="mnist-bp-4x2000 with the box (gradient blocked); variants straight-through, no-box and "
        "scrambled-straight-through (the scrambled box, its gradient taken as the identity's)",
        scales={"cpu": CPU},
        variants={"straight-through": {"model.black_box_gradient": "straight_through"}, "no-box": NO_BOX,
                  "scrambled-straight-through": {"model.black_box_gradient": "straight_through", **SCRAMBLED}},
    ),
]
