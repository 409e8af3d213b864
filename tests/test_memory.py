"""Training memory against depth (issues 11, 31). The layer-streaming FF step: each layer runs forward,
back-propagates its own loss and hands on only its detached output, so at most one layer's saved
activations are alive; the layer-by-layer step also takes each layer's optimiser step and frees its
gradient before the next layer runs. Both give the same weights as ffcode's joint step. The memory
study (ffrepro.memory) measures FF the three ways and BP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from ffrepro.book import read_source
from ffrepro.config import ConfigError, FFConfig, OptimConfig, RunConfig
from ffrepro.ff import FF_STATS, FFNet
from ffrepro.memory import METHODS, SPECS, SavedBytes, ff_step, measure, run_study
from ffrepro.results import REPO_ROOT
from ffrepro.trainer import ff_optimizer


def _net_and_optimizer(depth: int, width: int = 64, peer: float = 0.03) -> tuple[FFNet, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = FFConfig(hidden=(width,) * depth, peer_normalization=peer, first_scored_layer=0)
    net = FFNet(784, model)
    cfg = RunConfig(method="ff-supervised", model=model, optim=OptimConfig(lr=0.05))
    return net, ff_optimizer(net, cfg, with_readout=False)


@pytest.mark.parametrize("phase", ["both", "positive", "negative"])
def test_streaming_and_layerwise_steps_give_the_joint_steps_weights(phase: str) -> None:
    x = torch.rand(6, 40, 784, generator=torch.Generator().manual_seed(1))
    weights = {}
    for stepping in ("joint", "streaming", "layerwise"):
        net, opt = _net_and_optimizer(depth=3)
        stats = torch.zeros(len(FF_STATS), 3)
        for batch in x:
            ff_step(net, opt, batch, 20 if phase == "both" else 40, stats, phase, stepping)
        weights[stepping] = ([p.detach().clone() for p in net.parameters()], stats)
    joint, joint_stats = weights["joint"]
    assert any(not torch.equal(p, q) for p, q in zip(joint, _net_and_optimizer(depth=3)[0].parameters()))  # it learned
    for stepping in ("streaming", "layerwise"):
        for p, q in zip(joint, weights[stepping][0]):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(joint_stats, weights[stepping][1], rtol=1e-6, atol=1e-5)


def test_layerwise_step_holds_one_layers_gradient() -> None:
    """The gradients alive during one update: every layer's after the joint and streaming steps (their one
    optimiser step comes last), one layer's at a time in the layer-by-layer step (each freed after its step)."""
    x = torch.rand(40, 784, generator=torch.Generator().manual_seed(1))
    for stepping, most in (("joint", 3), ("streaming", 3), ("layerwise", 1)):
        net, opt = _net_and_optimizer(depth=3)
        alive = []
        step = opt.step

        def counting_step(*args: object, **kwargs: object) -> None:
            alive.append(sum(layer.linear.weight.grad is not None for layer in net.layers))
            step()

        opt.step = counting_step  # type: ignore[method-assign]
        ff_step(net, opt, x, 20, torch.zeros(len(FF_STATS), 3), stepping=stepping)
        assert max(alive) == most and all(layer.linear.weight.grad is None for layer in net.layers) == (stepping == "layerwise")


def test_streaming_step_holds_one_layers_activations() -> None:
    """Peak bytes saved for backward during one update: the joint step holds every layer's, the
    streaming step one layer's (every layer as wide as the image, so all hold the same)."""
    x = torch.rand(100, 784, generator=torch.Generator().manual_seed(1))
    peaks = {}
    for depth in (1, 4):
        for stepping in ("joint", "streaming", "layerwise"):
            net, opt = _net_and_optimizer(depth, width=784)
            counter = SavedBytes()
            with counter.hooks():
                ff_step(net, opt, x, 50, torch.zeros(len(FF_STATS), depth), stepping=stepping)
            assert counter.live == 0  # everything saved was freed by the backward
            peaks[(depth, stepping)] = counter.peak
    one_layer = peaks[(1, "joint")]
    assert peaks[(1, "streaming")] == peaks[(1, "layerwise")] == one_layer
    assert peaks[(4, "streaming")] == peaks[(4, "layerwise")] == one_layer
    assert peaks[(4, "joint")] == 4 * one_layer


def test_saved_bytes_grow_with_depth_for_bp_and_joint_ff_but_not_streaming_ff() -> None:
    spec = SPECS["smoke"]
    saved = {(m, d): measure(m, d, spec.batches[0], spec, torch.device("cpu"))["saved_bytes"] for m in METHODS for d in (1, 4)}
    assert saved[("ff-streaming", 4)] == saved[("ff-streaming", 1)] == saved[("ff-layerwise", 4)] > 0
    assert saved[("ff-joint", 4)] > 3 * saved[("ff-joint", 1)] * spec.width / (spec.width + 784)  # the first layer's input is wider
    assert saved[("bp", 4)] > saved[("bp", 1)]
    assert saved[("ff-joint", 1)] == saved[("ff-streaming", 1)]  # one layer: the two steps are one


def test_memory_study_writes_a_result_for_every_method_and_depth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    r = run_study("smoke", "cpu", progress=False)
    assert [(row["batch"], row["method"], row["depth"]) for row in r["rows"]] == [(b, m, d) for b in SPECS["smoke"].batches for d in SPECS["smoke"].depths for m in METHODS]
    assert all(row["seconds_per_update"] > 0 and "process_peak_bytes" in row for row in r["rows"])
    assert r["provenance"]["device"] and (tmp_path / "memory-depth" / "smoke" / "seed0.json").exists()
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        run_study("huge")


def _study(streaming_peak_extra: float) -> dict:
    """A synthetic memory study at depths 1, 2, 4, 8 and batch sizes 100 and 10: backprop saves 100 bytes a
    layer, the joint FF step 150, the streaming and layer-by-layer steps one layer's worth from the second
    depth on; the peaks (MiB) grow by one a layer, the streaming step's ``streaming_peak_extra`` above
    backprop's, the layer-by-layer step's stay at 5 from the second depth on. At batch size 10 every FF
    step's saved bytes grow as the joint step's."""
    mib = 2**20
    saved = {"bp": lambda d: 100 * d, "ff-joint": lambda d: 150 * d, "ff-streaming": lambda d: 150 if d == 1 else 120, "ff-layerwise": lambda d: 150 if d == 1 else 120}
    peak = {"bp": lambda d: (10 + d) * mib, "ff-joint": lambda d: (14 + d) * mib, "ff-streaming": lambda d: (10 + d + streaming_peak_extra) * mib,
            "ff-layerwise": lambda d: 4 * mib if d == 1 else 5 * mib}
    rows = [{"method": m, "depth": d, "batch": b, "saved_bytes": saved["ff-joint" if b == 10 and m != "bp" else m](d), "process_peak_bytes": peak[m](d),
             "seconds_per_update": 0.01 * d * (2 if m == "ff-streaming" else 1)}
            for b in (100, 10) for d in (1, 2, 4, 8) for m in METHODS]
    return {"spec": {"width": 256, "batches": [100, 10], "depths": [1, 2, 4, 8]}, "provenance": {"device": "cpu (x86_64)", "threads": 2},
            "wall_time_s": 90.0, "rows": rows}


def test_memory_facts_read_growth_crossings_and_the_verdict() -> None:
    from ffrepro.figures import memory as figs

    study = _study(streaming_peak_extra=2.0)
    f = figs.facts(study, "cpu")
    assert (f["width"], f["batch"], f["batch-small"], f["depth-min"], f["depth-max"], f["depth-second"]) == (256, 100, 10, 1, 8, 2)
    assert f["device"] == "cpu (x86_64) (2 threads)" and f["wall"] == 1.5 and f["peak-kind"].startswith("the resident memory")
    assert (f["bp-growth"], f["joint-growth"], f["streaming-growth"]) == (8.0, 8.0, 1.0)
    assert (f["shallow-ratio"], f["deep-ratio-streaming"], f["deep-ratio-joint"]) == (1.5, 0.15, 1.5)
    assert (f["peak-deep-streaming"], f["peak-deep-joint"], f["peak-deep-bp"], f["time-ratio"]) == (20.0, 22.0, 18.0, 2.0)
    assert (f["peak-deep-layerwise"], f["peak-growth-layerwise"], f["peak-ratio-layerwise"], f["time-ratio-layerwise"]) == (5.0, 1.0, 5 / 18, 1.0)
    assert (f["cross"], f["cross-joint"], f["cross-peak"], f["cross-peak-layerwise"]) == (
        "from 2 hidden layers on", "never, at the depths measured", "never, at the depths measured", "from 1 hidden layer on")
    saved = figs.claim(study, "saved_bytes")
    assert saved["flat"] == ["ff-streaming", "ff-layerwise"] and saved["depths"] == (2, 8) and saved["growth"]["bp"] == 4.0
    peak = figs.claim(study, "peak")
    assert peak["flat"] == ["ff-layerwise"] and peak["vs_bp"]["ff-layerwise"] == 5 / 18
    assert f["verdict"] == (
        "Counting the activations kept for the chain rule, from 2 to 8 hidden layers backprop's grows 4.0 times; FF's stays flat for the "
        "streaming step and the layer-by-layer step (within 1.25 times; at 8 layers the streaming step needs 0.15 times backprop's); "
        "the joint step's grows 4.0 times: the claim holds for those ways of stepping. "
        "Counting everything an update holds (its measured peak, gradients included), from 2 to 8 hidden layers backprop's grows 1.5 times; "
        "FF's stays flat for the layer-by-layer step (within 1.25 times; at 8 layers the layer-by-layer step needs 0.28 times backprop's); "
        "the joint step's grows 1.4 times, the streaming step's grows 1.4 times: the claim holds for that way of stepping.")
    assert f["verdict-small"].startswith("Counting the activations kept for the chain rule, from 2 to 8 hidden layers backprop's grows 4.0 times, "
                                         "and so does every FF step's (the least, the joint step's, 4.00 times): the claim does not hold.")
    page = read_source(REPO_ROOT / "book" / "notebooks" / "memory-depth.md")
    text = "\n".join(c["source"] for c in page["cells"] if c["cell_type"] == "markdown")
    assert set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", text)) <= set(f)  # every number the page glues


@pytest.mark.parametrize("stepping", ["joint", "streaming"])
def test_the_measured_step_computes_trainings_update(stepping: str) -> None:
    """The study measures the FF update as autograd runs it (ffrepro.memory.ff_step); training writes the
    same gradients out (ffrepro.unsupervised.plain_pass, as a stack of one). Both from the same weights and
    inputs: the same gradients and running means."""
    import copy

    from ffrepro.unsupervised import plain_pass

    torch.manual_seed(0)
    net = FFNet(784, FFConfig(hidden=(30, 20, 10), threshold_per_unit=0.3))
    twin = copy.deepcopy(net)
    x = torch.rand(40, 784)
    ff_step(net, torch.optim.SGD(net.parameters(), lr=0.0), x, 20, torch.zeros(len(FF_STATS), 3), stepping=stepping)  # type: ignore[arg-type]
    layers = twin.layers
    weights, biases, _ = plain_pass(x[None], 20, 20, [layer.linear.weight.detach()[None] for layer in layers], [layer.linear.bias.detach()[None] for layer in layers],
                                    [layer.mean_activity[None].clone() for layer in layers], tuple((l.threshold, l.sign, l.peer_normalization, l.peer_momentum) for l in layers),
                                    (False,) * 3)
    for layer, w, b in zip(net.layers, weights, biases):
        assert torch.allclose(layer.linear.weight.grad, w[0], rtol=1e-4, atol=1e-7) and torch.allclose(layer.linear.bias.grad, b[0], rtol=1e-4, atol=1e-7)

