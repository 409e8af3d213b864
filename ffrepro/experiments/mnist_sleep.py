"""Sleep (paper section 5): positive and negative phases separated in time, a measured study.

The entry `mnist-ff-sleep` is supervised FF with hard negatives, learned the usual way (each update
sees a minibatch's positive and negative data together, "interleaved"); its variants are the study:
the same net learning in alternating phases of K positive-only updates ("day") and K negative-only
updates on negatives the net generates when the night comes ("night"), over K, the learning rate,
the gradient smoothing ("momentum") and the goodness, and without any night at all.
`mnist-ff-sleep-unsupervised` is the second case: unsupervised FF, whose nights show hybrid images.
"""

from __future__ import annotations

from ffrepro.config import DataConfig, FFConfig, OptimConfig, ProfileScale, RunConfig, UnsupervisedFFConfig
from ffrepro.experiments.base import Experiment

# What the paper says (section 5, (r)): an earlier draft claimed that FF works with long blocks of
# positive-only and negative-only updates; that could not be replicated; with sum-of-squares goodness
# the phases separate only with a very low learning rate and extremely high momentum; another goodness
# might allow it. No numbers. Our choices:
# - The net: supervised FF with hard negatives (a wrong label sampled from the readout's prediction,
#   true label masked out): "negatives the network generates itself". At night the wrong labels are
#   drawn from the net as it is at that moment. The readout learns during the day (labelled data).
# - Equal data: every schedule shows each image once as positive and once as negative data per epoch;
#   a phased epoch makes twice the updates of an interleaved one, each on half the data (the day and
#   night halves of the loss keep their factor 1/2, so a day and a night at a tiny learning rate move
#   the weights as one interleaved update would). Every phased variant makes the same number of updates.
# - K (updates per phase): 1, 10, 100 and 500 (an epoch's worth of minibatches of 100 over 50,000 images).
# - Learning rate 0.01 (ffcode's), 0.001 and 0.0001 (100 x below); gradient smoothing 0.9 (ffcode's),
#   0.99 and 0.999; goodness "max ssq" and "min ssq" (the paper's guess: another goodness).
# - The paper's words are "learning rate" and "momentum". ffcode's smoothing is an average,
#   g_s <- s g_s + (1 - s) g, so its steps are lr x (a smoothed gradient); classical momentum,
#   v <- m v + g, takes steps of lr / (1 - m) x the gradient once it is steady. So smoothing s at
#   learning rate lr is classical momentum s at learning rate lr (1 - s): at lr 0.01, smoothing 0.9,
#   0.99 and 0.999 are "a learning rate 10, 100 and 1,000 times lower with higher and higher momentum"
#   at the same size of step, the paper's recipe, while lowering lr makes every step smaller. Two
#   more settings follow the recipe further: smoothing 0.9999 at lr 0.01 (a memory of 10,000
#   updates, longer than every phase), and smoothing 0.999 at lr 0.1 (classical: 1e-4, momentum 0.999).
# - "No sleep": positive-only updates at ffcode's settings, for each goodness.
# - paper: the paper's 4 x 2000 net for 3 epochs. The paper gives no schedule for this study, and
#   112 runs of the supervised entry's 60 epochs would take about 9 hours of an H100 (6 s an epoch
#   there); at 3 epochs, the cpu profile's, the study takes about half an hour of one GPU and differs
#   from cpu in the net's size alone. cpu: 2 hidden layers of 500 units, 3 epochs on all 50,000
#   training images, 10,000 evaluated: 24-31 s a run on 2 cores, 113 runs with the entry itself.
#   smoke: 2 layers of 200 on 10,000 images (at 100 units the goodness test was still at 56 %). The
#   entry's smoke run evaluates 10,000 images (its reference's bands need them); its variants' smoke
#   runs, which no reference compares (they show that every schedule runs and that the chapter builds),
#   evaluate 1,000: 2.2 s a run instead of 4.9 at one thread, about 6 CPU-minutes (3 of wall time on two workers) saved over
#   the 128 variants of both entries (half of it the validation error after every epoch).
SWEEP_SMOKE = ProfileScale(eval_examples=1_000)
SLEEP = RunConfig(
    method="ff-supervised",
    data=DataConfig(batch_size=100),
    model=FFConfig(hidden=(2000, 2000, 2000, 2000), negative_labels="hard"),
    optim=OptimConfig(epochs=3, lr=0.01),
)
PHASE_LENGTHS = (1, 10, 100, 500)
LEARNING_RATES = ("0.01", "0.001", "0.0001")
SMOOTHING = ("0.9", "0.99", "0.999")
EXTRA_SETTINGS = (("0.01", "0.9999"), ("0.1", "0.999"))  # (learning rate, smoothing): the recipe pushed further
GOODNESS = ("max_ssq", "min_ssq")


def variant_name(schedule: str, k: int | None, lr: str, smoothing: str, goodness: str) -> str:
    """"phases-k10-lr0.001-s0.99-max_ssq", "interleaved-lr0.01-s0.9-min_ssq", "positive_only-..."."""
    return f"{schedule}{f'-k{k}' if k else ''}-lr{lr}-s{smoothing}-{goodness}"


def sweep(goodnesses: tuple[str, ...] = GOODNESS, settings: tuple[tuple[str, str], ...] | None = None) -> dict[str, dict[str, str]]:
    """The study's variants: name -> the assignments that make it. ``settings``: the (learning rate,
    smoothing) pairs; all of LEARNING_RATES x SMOOTHING and EXTRA_SETTINGS by default."""
    out = {}
    pairs = settings or (*((lr, s) for lr in LEARNING_RATES for s in SMOOTHING), *EXTRA_SETTINGS)
    for goodness in goodnesses:
        for lr, s in pairs:
            common = {"optim.lr": lr, "optim.smoothing": s, "model.goodness": goodness}
            out[variant_name("interleaved", None, lr, s, goodness)] = common
            for k in PHASE_LENGTHS:
                out[variant_name("phases", k, lr, s, goodness)] = {**common, "model.schedule": "phases", "model.phase_length": str(k)}
        out[variant_name("positive_only", None, "0.01", "0.9", goodness)] = {"model.goodness": goodness, "model.schedule": "positive_only"}
    return out


PLACE = 70  # this chapter's place in the registry: the order of the tables and of `make book` (ffrepro.registry)
EXPERIMENTS = [
    Experiment(
        id="mnist-ff-sleep",
        section="5",
        title="Sleep: positive and negative phases separated in time (the interleaved baseline; the study is its variants)",
        paper_config=SLEEP,
        paper_value=None,
        metric="test.goodness",
        tolerance={},
        source="section 5: no numbers; phases separate only with a very low learning rate and extremely high momentum (r)",
        comment="supervised FF with hard negatives; variants over the schedule, K, learning rate, smoothing and goodness",
        scales={
            "cpu": ProfileScale(hidden=(500, 500), epochs=3),
            "smoke": ProfileScale(hidden=(200, 200)),
        },
        variants=sweep(),
        variant_scales={"smoke": SWEEP_SMOKE},
    ),
    # The second case the issue asks for: unsupervised FF, whose negatives are hybrid images (made
    # from the night's own minibatch, not by the net). Its net and optimiser are mnist-ff-unsupervised's
    # (paper: 4 x 2000 for 100 epochs; the readout trained afterwards on the last three layers). The
    # sweep is smaller: max ssq only (min ssq is the supervised study's question) at ffcode's
    # learning rate with smoothing 0.9, 0.99 and 0.999 (the paper's recipe at the same size of step,
    # see above); K as above; and no sleep. paper: the 4 x 2000 net for 3 epochs (as above). cpu: 3
    # hidden layers of 500 (so that "the last three" is every layer, as it is in the paper's
    # readout), 3 epochs on all the data.
    Experiment(
        id="mnist-ff-sleep-unsupervised",
        section="5",
        title="Sleep for unsupervised FF: hybrid images at night (the interleaved baseline; the study is its variants)",
        paper_config=RunConfig(
            method="ff-unsupervised",
            model=UnsupervisedFFConfig(hidden=(2000, 2000, 2000, 2000), peer_normalization=0.0),
            optim=OptimConfig(epochs=3, lr=0.01),
        ),
        paper_value=None,
        metric="test.last3",
        tolerance={},
        source="section 5: no numbers (r); negatives as in section 3.2",
        comment="unsupervised FF with hybrid-image negatives; variants over the schedule, K and two slow settings",
        scales={
            "cpu": ProfileScale(hidden=(500, 500, 500), epochs=3),
            "smoke": ProfileScale(hidden=(100, 100, 100)),
        },
        variant_scales={"smoke": SWEEP_SMOKE},
        variants=sweep(("max_ssq",), (("0.01", "0.9"), ("0.01", "0.99"), ("0.01", "0.999"))),
    ),
]
