"""Seeds trained as one stacked model (ffrepro.stacked): each seed computes what it computes alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ffrepro.cli import main
from ffrepro.config import override
from ffrepro.data import Dataset, Split
from ffrepro.registry import get_experiment
from ffrepro.runner import checkpoint_path, run, run_seeds
from ffrepro.stacked import StackedFFSupervised, stackable
from ffrepro.supervised import FFSupervisedTrainer


def _small(exp_id: str, **sets: str):
    """The entry's smoke config on 2,000 training images (two epochs), to keep these tests quick."""
    return override(get_experiment(exp_id).config("smoke"), {"data.train_examples": "2000", "data.eval_examples": "1000", "optim.epochs": "2", **sets})


def _trainers(cfg, data: Dataset, seeds: list[int]) -> list[FFSupervisedTrainer]:
    """One-seed trainers initialised as the runner does: the seed fixes the weights and the generator."""
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(FFSupervisedTrainer(cfg, data, torch.Generator().manual_seed(seed)))
    return out


@pytest.mark.parametrize("exp_id", ["mnist-ff-hard-negatives", "mnist-ff-jitter", "mnist-ff-supervised"])
def test_stacked_seeds_compute_what_each_seed_computes_alone_in_float64(mnist: Dataset, exp_id: str) -> None:
    """In float64 the only difference is the order of the sums inside the products, so after two epochs
    of hard or uniform negatives, shifted or not, the weights, optimiser states, running means and
    every logged statistic agree to ~1e-9 of their size; a wrong gradient, a missed peer push, a random
    draw out of order or a learning rate off by the schedule would show at 1e-3 or more."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        data = Dataset(mnist.name, *(Split(s.x.double(), s.y) for s in (mnist.train, mnist.val, mnist.test)), mnist.hashes)
        cfg = _small(exp_id)
        alone, together = _trainers(cfg, data, [0, 1]), _trainers(cfg, data, [0, 1])
        logs_alone = [[t.train_epoch(e) for e in (1, 2)] for t in alone]
        stacked = StackedFFSupervised(together)
        logs_together = [stacked.train_epoch(e) for e in (1, 2)]
    finally:
        torch.set_default_dtype(default)
    for s, (a, b) in enumerate(zip(alone, together)):
        assert not torch.equal(a.net.layers[0].linear.weight, alone[1 - s].net.layers[0].linear.weight)  # the seeds differ
        for (name, pa), pb in zip(a.net.state_dict().items(), b.net.state_dict().values()):
            assert (pa - pb).abs().max() <= 1e-9 * pa.abs().max(), (s, name)
        sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
        assert sa["param_groups"] == sb["param_groups"]  # the same learning rates (schedule) recorded
        for k in sa["state"]:
            ga, gb = sa["state"][k]["smoothed"], sb["state"][k]["smoothed"]
            assert (ga - gb).abs().max() <= 1e-9 * ga.abs().max(), (s, k)
        assert torch.equal(a.gen.get_state(), b.gen.get_state())  # the same draws, in the same order
        for epoch in range(2):
            la, lb = logs_alone[s][epoch], logs_together[epoch][s]
            assert la.keys() == lb.keys()
            for key, va in la.items():
                vb = lb[key]
                if isinstance(va, list):
                    assert vb == pytest.approx(va, rel=1e-9, abs=1e-12), (s, epoch, key)
                else:
                    assert vb == pytest.approx(va, rel=1e-9), (s, epoch, key)


def test_a_stacked_run_writes_what_one_seed_runs_write_and_resumes_either_way(tmp_path: Path) -> None:
    """Through the runner in float32: the same result files (one per seed, the seeds listed in the
    provenance), epoch 1 within float32 rounding of the one-seed runs, checkpoints a one-seed run resumes."""
    exp_id, cfg = "mnist-ff-hard-negatives", _small("mnist-ff-hard-negatives")
    where = dict(device="cpu", config=cfg, progress=False)
    alone = [run(exp_id, "smoke", s, results_dir=tmp_path / "a" / "r", checkpoint_dir=tmp_path / "a" / "c", **where) for s in (0, 1)]
    together = run_seeds(exp_id, "smoke", [0, 1], stack=True, results_dir=tmp_path / "b" / "r", checkpoint_dir=tmp_path / "b" / "c", **where)
    for s, (a, b) in enumerate(zip(alone, together)):
        assert b["seed"] == s and b["complete"] and b["epochs_done"] == 2
        assert (tmp_path / "b" / "r" / exp_id / "smoke" / f"seed{s}.json").exists()
        assert b["provenance"]["stacked_seeds"] == [0, 1] and "stacked_seeds" not in a["provenance"]
        assert b.keys() == a.keys() and b["final"].keys() == a["final"].keys() and b["extras"].keys() == a["extras"].keys()
        for key in ("ff_loss", "pos_goodness", "neg_goodness"):
            assert b["history"][0][key] == pytest.approx(a["history"][0][key], rel=1e-3), key
        assert b["history"][0]["readout_loss"] == pytest.approx(a["history"][0]["readout_loss"], rel=1e-3)
    # stopped after epoch 1 stacked, then seed 1 resumes alone from its checkpoint
    part = run_seeds(exp_id, "smoke", [0, 1], stack=True, stop_after_epochs=1, results_dir=tmp_path / "c" / "r", checkpoint_dir=tmp_path / "c" / "c", **where)
    assert [r["epochs_done"] for r in part] == [1, 1]
    assert checkpoint_path(exp_id, "smoke", 1, tmp_path / "c" / "c").exists()
    resumed = run(exp_id, "smoke", 1, results_dir=tmp_path / "c" / "r", checkpoint_dir=tmp_path / "c" / "c", **where)
    assert resumed["complete"] and resumed["history"][0] == part[1]["history"][0]
    assert resumed["history"][1]["ff_loss"] == pytest.approx(together[1]["history"][1]["ff_loss"], rel=1e-3)
    # seed 0 at epoch 1, seed 2 fresh: not at the same epoch, so each trains alone; seed 1 is reused
    mixed = run_seeds(exp_id, "smoke", [0, 1, 2], stack=True, results_dir=tmp_path / "c" / "r", checkpoint_dir=tmp_path / "c" / "c", **where)
    assert [r["epochs_done"] for r in mixed] == [2, 2, 2]
    assert "stacked_seeds" not in mixed[2]["provenance"] and mixed[1]["finished"] == resumed["finished"]


def test_configs_that_cannot_stack_say_why_and_run_seed_by_seed(mnist: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert stackable(get_experiment("mnist-ff-supervised").config("paper")) is None
    assert "schedule 'phases'" in stackable(get_experiment("mnist-ff-sleep/phases-k10-lr0.01-s0.9-max_ssq").config("smoke"))
    assert "precision 'bf16'" in stackable(get_experiment("mnist-ff-hard-negatives/bf16").config("smoke"))
    assert "ff-unsupervised" in stackable(get_experiment("mnist-ff-unsupervised").config("smoke"))
    assert "bp" in stackable(get_experiment("mnist-bp").config("smoke"))
    with pytest.raises(ValueError, match="precision 'bf16'"):
        StackedFFSupervised(_trainers(_small("mnist-ff-hard-negatives/bf16"), mnist, [0, 1]))
    # from the command line: said once, then each seed trains alone and writes its result
    exp_id = "mnist-ff-hard-negatives/bf16"
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path / "r"))
    monkeypatch.setenv("FFREPRO_CHECKPOINTS", str(tmp_path / "c"))
    sets = ["--set", "data.train_examples=1000", "--set", "data.eval_examples=500", "--set", "optim.epochs=1"]
    assert main(["run", exp_id, "--profile", "smoke", "--seed", "0", "1", "--stack", "--no-progress", "--device", "cpu", *sets]) == 0
    assert "not stacking the seeds (precision 'bf16'" in capsys.readouterr().err
    for seed in (0, 1):
        assert (tmp_path / "r" / exp_id / "smoke" / f"seed{seed}.json").exists()
