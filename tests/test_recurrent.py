"""Recurrent FF with top-down connections (paper section 3.4): the dynamics, the test score, the config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from ffrepro.config import ConfigError, RecurrentFFConfig, RunConfig, override, validate
from ffrepro.data import NUM_CLASSES
from ffrepro.ff import length_normalize
from ffrepro.recurrent import RecurrentFFNet, error_table, window_name, windows
from ffrepro.registry import EXPERIMENTS
from ffrepro.results import load_results

RECURRENT_IDS = [e for e, exp in EXPERIMENTS.items() if exp.paper_config.method == "ff-recurrent" and exp.paper_config.data.dataset == "mnist"]  # CIFAR-10: test_cifar.py


def small_net(hidden: tuple[int, ...] = (12, 10, 8), **kw) -> RecurrentFFNet:
    torch.manual_seed(0)
    return RecurrentFFNet(20, RecurrentFFConfig(hidden=hidden, **kw)).double()


def random_states(net: RecurrentFFNet, n: int, k: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.zeros(k, n, u, dtype=torch.double), torch.rand(k, n, u, dtype=torch.double)) for u in net.cfg.hidden]


def inputs(net: RecurrentFFNet, n: int = 5, label: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    image = torch.rand(n, 20, dtype=torch.double)
    labels = torch.full((1, n), label)
    return image, net.bottom_up(image), net.label_state(labels).double()


@torch.no_grad()
@pytest.mark.parametrize("perturbed", [0, 1, 2])
def test_updates_are_synchronous(perturbed: int) -> None:
    """Perturb one layer's state at t: at t+1 only it (damping) and its neighbours change; a layer two
    away changes only at t+2. A sequential (bottom-up or top-down) sweep would reach it at t+1."""
    net = small_net()
    _, image_term, label = inputs(net)
    states = random_states(net, 5)
    bumped = [(z, h + 1.0) if i == perturbed else (z, h) for i, (z, h) in enumerate(states)]
    a, b = net.step(image_term, label, states), net.step(image_term, label, bumped)
    for i in range(3):
        changed = not torch.equal(a[i][1], b[i][1])
        assert changed == (abs(i - perturbed) <= 1), (perturbed, i)
    a2, b2 = net.step(image_term, label, a), net.step(image_term, label, b)
    assert all(not torch.equal(x[1], y[1]) for x, y in zip(a2, b2))  # two steps later every layer has heard it


@torch.no_grad()
def test_label_reaches_only_the_last_hidden_layer() -> None:
    """After the initial pass and one iteration, changing the label changes the last hidden layer and
    nothing below it; after two, the layer below it too."""
    net = small_net()
    image = torch.rand(5, 20, dtype=torch.double)
    runs = [net.run(image, torch.full((1, 5), c), 2) for c in (2, 7)]
    for t in range(3):
        same = [torch.equal(runs[0][t][i][1], runs[1][t][i][1]) for i in range(3)]
        assert same == {0: [True, True, True], 1: [True, True, False], 2: [True, False, False]}[t], (t, same)


@torch.no_grad()
def test_damping_is_03_old_plus_07_new() -> None:
    net = small_net()
    assert net.cfg.damping == 0.3
    _, image_term, label = inputs(net)
    states = random_states(net, 5)
    new = net.step(image_term, label, states)
    h = [s[1] for s in states]
    for i, (layer, down) in enumerate(zip(net.layers, net.top_down)):
        below = image_term if i == 0 else layer.linear(length_normalize(h[i - 1]))
        above = label if i == 2 else length_normalize(h[i + 1])
        computed = torch.relu(below + down(above))
        torch.testing.assert_close(new[i][1], 0.3 * h[i] + 0.7 * computed, rtol=1e-12, atol=1e-12)


@torch.no_grad()
def test_ten_labels_are_batched_and_agree_with_one_label_runs() -> None:
    """The 10-label run (one batch of 10N rows) gives each label the goodness of its own run."""
    net = small_net()
    image = torch.rand(4, 20, dtype=torch.double)
    batched = net.label_goodness(image)  # (T + 1, N, 10)
    assert batched.shape == (net.cfg.iterations + 1, 4, NUM_CLASSES)
    for c in (0, 5, 9):
        traj = net.run(image, torch.full((1, 4), c), net.cfg.iterations)
        single = torch.stack([net.scored_goodness(s, 1)[0] for s in traj])
        torch.testing.assert_close(batched[:, :, c], single)
    assert torch.equal(batched[0], batched[0, :, :1].expand(-1, NUM_CLASSES))  # the initial pass is label-free


@torch.no_grad()
def test_test_score_averages_exactly_the_configured_iterations() -> None:
    net = small_net(test_window=(2, 4))
    image = torch.rand(6, 20, dtype=torch.double)
    g = net.label_goodness(image)
    torch.testing.assert_close(net.scores(image), (g[2] + g[3] + g[4]) / 3)
    # goodness outside the window does not move the score; inside it does
    for t, moves in ((1, False), (2, True), (4, True), (5, False), (0, False)):
        bumped = g.clone()
        bumped[t] += torch.rand(6, NUM_CLASSES, dtype=torch.double) * 100
        assert torch.equal(RecurrentFFNet.window_scores(bumped, (2, 4)), RecurrentFFNet.window_scores(g, (2, 4))) != moves, t


def test_error_table_covers_every_window_and_iteration() -> None:
    g = torch.zeros(5, 3, NUM_CLASSES)  # 4 iterations, 3 images
    y = torch.tensor([1, 2, 3])
    g[1:, torch.arange(3), y] = 1.0  # right at every iteration...
    g[4, 0, 7] = 5.0  # ...except image 0 at iteration 4
    table = error_table(g, y)
    assert len(table["windows"]) == len(windows(4)) == 10
    assert table["iterations"] == pytest.approx([0, 0, 0, 100 / 3])
    assert table["windows"][window_name((4, 4))] == pytest.approx(100 / 3)
    assert table["windows"][window_name((1, 3))] == 0.0


def test_loss_is_local_in_time_and_layers() -> None:
    """The loss of one layer at one iteration gives gradients to that layer's weights only."""
    net = small_net()
    image = torch.rand(5, 20, dtype=torch.double)
    traj = net.run(image, torch.stack([torch.full((5,), 1), torch.full((5,), 4)]), 3)
    z, h = traj[3][1]
    net.layers[1].loss(z[0], h[0], h[1]).backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    touched = {name for name, gr in grads.items() if gr is not None and torch.count_nonzero(gr) > 0}
    assert touched == {"layers.1.linear.weight", "layers.1.linear.bias", "top_down.1.weight"}


@pytest.mark.parametrize(
    "assignment,field",
    [
        ({"model.test_window": "0,5"}, "model.test_window"),
        ({"model.test_window": "3,9"}, "model.test_window"),
        ({"model.test_window": "5,3"}, "model.test_window"),
        ({"model.loss_iterations": "1,9"}, "model.loss_iterations"),
        ({"model.iterations": "0"}, "model.iterations"),
        ({"model.iterations": "4"}, "model.test_window"),  # the default window 3-5 no longer fits
        ({"model.hidden": ""}, "model.hidden"),
        ({"model.damping": "1.0"}, "model.damping"),
        ({"model.negative_iterations": "0"}, "model.negative_iterations"),
    ],
)
def test_bad_config_is_rejected_naming_the_field(assignment: dict[str, str], field: str) -> None:
    cfg = EXPERIMENTS["mnist-ff-recurrent"].config("smoke")
    if assignment == {"model.hidden": ""}:  # an empty tuple cannot be typed on the command line
        bad = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, hidden=()))
        with pytest.raises(ConfigError, match=field):
            validate(bad)
        return
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        override(cfg, assignment)


def test_config_round_trips_through_json() -> None:
    cfg = override(EXPERIMENTS["mnist-ff-recurrent"].config("smoke"), {"model.test_window": "2,6"})
    again = RunConfig.from_dict(cfg.to_dict())
    assert again == cfg and isinstance(again.model, RecurrentFFConfig) and again.model.test_window == (2, 6)


def test_registry_entries() -> None:
    assert set(RECURRENT_IDS) == {"mnist-ff-recurrent", "mnist-ff-recurrent-2layers"}
    depths = {e: len(EXPERIMENTS[e].paper_config.model.hidden) for e in RECURRENT_IDS}
    assert depths == {"mnist-ff-recurrent": 3, "mnist-ff-recurrent-2layers": 2}
    for e in RECURRENT_IDS:
        m = EXPERIMENTS[e].paper_config.model
        assert (m.iterations, m.damping, m.test_window, EXPERIMENTS[e].paper_value) == (8, 0.3, (3, 5), 1.31)


@pytest.mark.parametrize("exp_id", RECURRENT_IDS)
def test_smoke_learns(exp_id: str, smoke_results: Path) -> None:
    """The smoke profile (100-unit layers, 3 epochs of 10k images) ends well below 90 % error, and
    records the errors of every window and every iteration."""
    (r,) = load_results(exp_id, "smoke", smoke_results)
    assert r["final"]["test"]["goodness"] < 60
    it = r["config"]["model"]["iterations"]
    assert len(r["extras"]["iteration_error"]["test"]) == it
    assert len(r["extras"]["window_error"]["test"]) == it * (it + 1) // 2
    assert r["extras"]["window_error"]["test"]["3-5"] == r["final"]["test"]["goodness"]


def test_hard_negatives_are_wrong_labels_the_net_finds_likely(mnist, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sampled in the update from the net's own per-label goodness, never the true label."""
    from ffrepro import recurrent

    cfg = EXPERIMENTS["mnist-ff-recurrent"].config("smoke")
    trainer = recurrent.FFRecurrentTrainer(cfg, mnist, torch.Generator().manual_seed(0))
    x, y = mnist.train.x[:300], mnist.train.y[:300]
    with torch.no_grad():  # make label 6 by far the most likely one for every image
        trainer.net.top_down[-1].weight[:, 6] += 5.0
    drawn: list[torch.Tensor] = []
    monkeypatch.setattr(recurrent, "wrong_labels", lambda *args, draw=recurrent.wrong_labels: drawn.append(draw(*args)) or drawn[-1])
    stack = recurrent.StackedFFRecurrent([trainer])
    stack._stack()
    stack.start_epoch()
    stack.update(x[None], y[None], "both", trainer.optimizer.param_groups)
    (neg,) = drawn
    assert (neg != y).all()
    assert (neg[y != 6] == 6).float().mean() > 0.9
