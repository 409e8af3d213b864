"""The package's updates compute what the plain references of tests/reference.py compute: the FF
updates (shared first layer, written-out loss gradients) and the optimiser step to float64 rounding,
the bf16 products to bf16 rounding; and compiled paths what the eager ones do."""

from __future__ import annotations

from pathlib import Path
import os
import subprocess
import sys
import warnings

import pytest
import torch

from ffrepro.config import ConfigError, DataConfig, FFConfig, RunConfig, validate
from ffrepro.data import Dataset, Split
from ffrepro.ff import Bf16Linear, FFNet, wrong_labels
from ffrepro.optim import SmoothedSGD

from reference import smoothed_sgd_step


def _net(precision: str = "fp32", hidden: tuple[int, ...] = (40, 30, 20)) -> FFNet:
    torch.manual_seed(0)
    return FFNet(784, FFConfig(hidden=hidden, precision=precision))  # type: ignore[arg-type]


def test_goodness_scores_share_the_first_layer() -> None:
    """The test of every label computes layer 1's product with the images once (labelled_first): the same
    scores as each labelled copy normalised and multiplied out."""
    net = _net()
    x = torch.rand(16, 784)
    copies = [net.embed(x, torch.full((16,), k)) for k in range(10)]
    reference = torch.stack([net.total_goodness(net.forward(c)) for c in copies], 1)
    assert torch.allclose(net.scores_goodness(x), reference, rtol=1e-5, atol=1e-3)


def _update_and_reference(cfg: RunConfig, data: Dataset, phase: str, reference_cfg: RunConfig | None = None) -> tuple[dict, dict, dict]:
    """One update of seed 0 by the package (a stack of one), and the plain reference's gradients from the same
    weights, minibatch and draws: (the package's gradients, the reference's, each layer's running means
    after the package's update and after the reference's), keyed by parameter name."""
    from ffrepro.methods import METHODS
    from ffrepro.unsupervised import make_negatives

    from reference import recurrent_grads, recurrent_negatives, supervised_grads, unsupervised_grads

    torch.manual_seed(0)
    trainer = METHODS[cfg.method].trainer(cfg, data, torch.Generator().manual_seed(0))
    ref_net = METHODS[cfg.method].trainer(reference_cfg or cfg, data, torch.Generator().manual_seed(0)).net
    ref_net.load_state_dict(trainer.net.state_dict())
    gen = torch.Generator().manual_seed(0)
    gen.set_state(trainer.gen.get_state())  # the draws the update makes, made again for the reference
    x, y = data.train.x[:20], data.train.y[:20]
    stack = METHODS[cfg.method].stacked([trainer])
    stack._stack()
    stack.start_epoch()
    stack.product = stack._product_params()
    grads, _ = stack._update(x[None], y[None], phase)
    names = {id(p): name for name, p in trainer.net.named_parameters()}
    package = {names[id(p)]: g[0] for group, gs in zip(stack._groups(trainer), stack._compact_grads(grads)) if gs is not None for p, g in zip(group, gs)}
    if cfg.method == "ff-recurrent":
        reference = recurrent_grads(ref_net, x, y, recurrent_negatives(ref_net, x, y, gen))
    elif cfg.method == "ff-supervised":
        hard = cfg.model.negative_labels == "hard"
        logits = ref_net.scores_softmax(x) if hard else None
        wrong = wrong_labels(y, gen, logits) if phase != "positive" else None
        reference = supervised_grads(ref_net, x, y, wrong, phase)
    else:
        hybrids = make_negatives(x, cfg.model.blur_steps, gen)[0] if phase != "positive" else x
        reference = unsupervised_grads(ref_net, x, hybrids, phase)
    means = {f"mean {i}": (stack.mean_activity[i][0], layer.mean_activity) for i, layer in enumerate(ref_net.layers)}
    return package, reference, means


def _float64(data: Dataset) -> Dataset:
    return Dataset(data.name, *(Split(s.x.double(), s.y) for s in (data.train, data.val, data.test)), data.hashes)


@pytest.mark.parametrize("phase", ["both", "positive", "negative"])
@pytest.mark.parametrize("case", ["supervised", "hard", "unsupervised", "local"])
def test_the_update_equals_the_float64_reference(case: str, phase: str) -> None:
    """Every parameter's gradient and every running mean of one update, the package's written-out update
    against autograd through the plain loss (tests/reference.py), both in float64: supervised FF (uniform
    and hard negatives: the readout, layer 1's shared image product, the peer term), unsupervised FF (hybrids),
    and unsupervised FF with locally connected maps (the compact weights through their dense matrices)."""
    from ffrepro.config import UnsupervisedFFConfig
    from ffrepro.local import LocalSpec

    if case in ("supervised", "hard"):
        model = FFConfig(hidden=(40, 30, 20), threshold_per_unit=0.3, negative_labels="hard" if case == "hard" else "uniform")
        cfg = RunConfig(method="ff-supervised", data=DataConfig(eval_examples=100), model=model)  # type: ignore[arg-type]
    else:
        local = (LocalSpec(grid=7, window=8, stride=4, channels=5, padding=2), LocalSpec(grid=3, window=3, stride=2, channels=7)) if case == "local" else ()
        hidden = tuple(s.units for s in local) if local else (40, 30)
        cfg = RunConfig(method="ff-unsupervised", data=DataConfig(eval_examples=100), model=UnsupervisedFFConfig(hidden=hidden, local=local, threshold_per_unit=0.3))
    validate(cfg)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        package, reference, means = _update_and_reference(cfg, _float64(_tiny_data(100)), phase)
    finally:
        torch.set_default_dtype(default)
    assert package.keys() == reference.keys() and len(package) >= 4
    for name, g in package.items():
        assert g.dtype == torch.float64 and reference[name].abs().max() > 0, name
        # 1e-8, not float64's 1e-15: past 20, torch's softplus is linear, so autograd's gradient there is 1,
        # where the written-out one is the sigmoid, 1 - e^-20 (2e-9 apart)
        assert (g - reference[name]).abs().max() <= 1e-8 * reference[name].abs().max(), name
    for name, (a, b) in means.items():
        assert torch.allclose(a, b, rtol=1e-12, atol=0), name


def test_bf16_update_matches_the_float32_reference_to_bf16_rounding() -> None:
    """The same update with bf16 products (model.precision "bf16"), against the float32 reference's
    gradients from the same weights: within bf16 rounding (2 % of each gradient's norm)."""
    cfg = RunConfig(method="ff-supervised", data=DataConfig(eval_examples=100), model=FFConfig(hidden=(64, 64, 64), precision="bf16"))  # type: ignore[arg-type]
    reference_cfg = RunConfig(method="ff-supervised", data=DataConfig(eval_examples=100), model=FFConfig(hidden=(64, 64, 64)))
    package, reference, _ = _update_and_reference(cfg, _tiny_data(100), "both", reference_cfg)
    for name, g in package.items():
        assert (g - reference[name]).norm() <= 0.02 * reference[name].norm(), name


def test_the_optimiser_step_equals_the_per_tensor_formula() -> None:
    torch.manual_seed(0)
    params = [torch.randn(30, 20, dtype=torch.float64, requires_grad=True), torch.randn(20, dtype=torch.float64, requires_grad=True)]
    twins = [p.detach().clone().requires_grad_(True) for p in params]
    groups = lambda ps: [dict(params=ps[:1], weight_decay=0.001), dict(params=ps[1:], weight_decay=0.0)]  # noqa: E731
    fast, ref = SmoothedSGD(groups(params), lr=0.01, smoothing=0.9), SmoothedSGD(groups(twins), lr=0.01, smoothing=0.9)
    for _ in range(5):
        g = [torch.randn_like(p) for p in params]
        for ps in (params, twins):
            for p, gi in zip(ps, g):
                p.grad = gi.clone()
        fast.step()
        smoothed_sgd_step(ref)
    for a, b in zip(params, twins):
        assert torch.allclose(a, b, rtol=1e-12, atol=0)
        assert torch.allclose(fast.state[a]["smoothed"], ref.state[b]["smoothed"], rtol=1e-12, atol=0)


def test_an_emulated_cpu_capability_compiles_into_a_cache_of_its_own() -> None:
    """Inductor's disk cache ignores ATEN_CPU_CAPABILITY: a kernel cached natively and loaded under
    ATEN_CPU_CAPABILITY=avx2 gave a smoothed gradient off by 0.35. ffrepro.compiled keeps such runs apart,
    and leaves a cache directory the user chose, or a native run's, as it is."""
    probe = "import os, ffrepro.compiled; print(os.environ.get('TORCHINDUCTOR_CACHE_DIR', ''))"
    def cache(**env: str) -> str:
        base = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "TORCHINDUCTOR_CACHE_DIR")}
        return subprocess.run([sys.executable, "-c", probe], env={**base, **env}, capture_output=True, text=True, check=True).stdout.strip()
    assert cache(ATEN_CPU_CAPABILITY="avx2").endswith("_avx2") and cache(ATEN_CPU_CAPABILITY="default").endswith("_default")
    assert cache() == "" and cache(ATEN_CPU_CAPABILITY="avx2", TORCHINDUCTOR_CACHE_DIR="/tmp/mine") == "/tmp/mine"


def test_compiled_optimiser_step_equals_the_eager_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """FFREPRO_COMPILE=1: the one-pass compiled update, against the eager fused one, over a changing
    learning rate (a tensor input: no recompilation). Where this machine cannot compile (no C++
    compiler or Python headers), the warning must say so and the eager step must have run."""
    from ffrepro import optim

    monkeypatch.setattr(optim, "_compiled_update", optim.Compiled(optim._one_pass_update))  # a fresh wrapper: nothing cached
    torch.manual_seed(0)
    params = [torch.randn(30, 20, requires_grad=True), torch.randn(20, requires_grad=True)]
    twins = [p.detach().clone().requires_grad_(True) for p in params]
    groups = lambda ps: [dict(params=ps[:1], weight_decay=0.001), dict(params=ps[1:], weight_decay=0.0)]  # noqa: E731
    compiled, eager = SmoothedSGD(groups(params), lr=0.01, smoothing=0.9), SmoothedSGD(groups(twins), lr=0.01, smoothing=0.9)
    told = []
    for step in range(4):
        g = [torch.randn_like(p) for p in params]
        for ps, opt in ((params, compiled), (twins, eager)):
            for p, gi in zip(ps, g):
                p.grad = gi.clone()
            for group in opt.param_groups:
                group["lr"] = 0.01 / (step + 1)
        eager.step()
        monkeypatch.setenv("FFREPRO_COMPILE", "1")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compiled.step()
        told += [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning) and "FFREPRO_COMPILE=1" in str(w.message)]
        monkeypatch.delenv("FFREPRO_COMPILE")
    assert optim._compiled_update.enabled is False  # FFREPRO_COMPILE unset again
    monkeypatch.setenv("FFREPRO_COMPILE", "1")
    assert optim._compiled_update.enabled is not bool(told) and len(told) <= 1  # compiled, or told once why not
    for a, b in zip(params, twins):
        assert torch.allclose(a, b, atol=1e-6)
        assert torch.allclose(compiled.state[a]["smoothed"], eager.state[b]["smoothed"], atol=1e-6)


def test_a_failed_compilation_falls_back_to_eager_once_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from ffrepro.compiled import Compiled

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("no compiler found\nsecond line")

    monkeypatch.setenv("FFREPRO_COMPILE", "1")
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: broken)
    double = Compiled(lambda x: 2 * x)
    with pytest.warns(RuntimeWarning, match=r"failed \(RuntimeError: no compiler found\); running it uncompiled"):
        assert double(3) == 6
    assert not double.enabled
    with warnings.catch_warnings():  # told once: later calls run eagerly without a word
        warnings.simplefilter("error")
        assert double(4) == 8


def test_bf16_products_without_bf16_units_are_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the CPU has no bf16 units (AVX2-only) a bf16 product is computed on its operands widened to
    float32 and rounded to bf16 at the end. A product of two bf16 numbers is exact in float32 and both
    ways accumulate in float32, so they may differ only where the two orders of accumulation round to
    neighbouring bf16 numbers: by at most one bf16 step (2^-7 of the value at most), and rarely."""
    from ffrepro import ff

    torch.manual_seed(0)
    a, b = torch.randn(64, 300), torch.randn(300, 50)
    cases = [(torch.matmul, a, b), (torch.nn.functional.linear, a, b.T.contiguous())]
    native = [ff.bf16_product(f, x.bfloat16(), y.bfloat16()) for f, x, y in cases]
    monkeypatch.setattr(ff, "CPU_BF16_UNITS", False)
    emulated = [ff.bf16_product(f, x.bfloat16(), y.bfloat16()) for f, x, y in cases]
    for n, e in zip(native, emulated):
        assert n.dtype == e.dtype == torch.bfloat16
        gap = (n.float() - e.float()).abs()
        assert bool((gap <= n.float().abs() * 2.0**-7).all()) and float((gap > 0).float().mean()) < 0.05
    layer = Bf16Linear(300, 50)
    x = torch.randn(64, 300, requires_grad=True)
    out = layer(x)
    out.square().sum().backward()
    grads = (x.grad.clone(), layer.weight.grad.clone())
    monkeypatch.setattr(ff, "CPU_BF16_UNITS", True)
    x.grad, layer.weight.grad = None, None
    again = layer(x)
    again.square().sum().backward()
    assert torch.allclose(out, again, rtol=2.0**-7, atol=1e-6)
    for g, h in zip(grads, (x.grad, layer.weight.grad)):
        assert torch.allclose(g, h, rtol=2.0**-6, atol=1e-3 * float(h.abs().max()))


def test_bf16_layer_matches_fp32_to_bf16_rounding_and_loads_fp32_weights() -> None:
    torch.manual_seed(0)
    dense = torch.nn.Linear(300, 200)
    bf16 = Bf16Linear(300, 200)
    bf16.load_state_dict(dense.state_dict())  # the same parameters and state dict
    x = torch.rand(50, 300, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    z, z2 = dense(x), bf16(x2)
    assert z2.dtype == torch.float32 and bf16.weight.dtype == torch.float32
    assert (z2 - z).abs().max() / z.abs().max() < 2e-2
    z.pow(2).sum().backward()
    z2.pow(2).sum().backward()
    for a, b in ((dense.weight.grad, bf16.weight.grad), (x.grad, x2.grad), (dense.bias.grad, bf16.bias.grad)):
        assert a is not None and b is not None and b.dtype == torch.float32
        assert (a - b).abs().max() / a.abs().max() < 3e-2
    with torch.no_grad():  # a changed weight gets a new bf16 copy
        bf16.weight.mul_(2)
    assert torch.allclose(bf16(x2), 2 * z2 - bf16.bias, rtol=2e-2, atol=0.05)


def _tiny_data(n: int = 600) -> Dataset:
    g = torch.Generator().manual_seed(0)
    split = lambda m: Split(torch.rand(m, 784, generator=g), torch.randint(0, 10, (m,), generator=g))  # noqa: E731
    return Dataset(name="fake", train=split(n), val=split(200), test=split(200), hashes={})


def _recurrent(case: str, precision: str = "fp32") -> RunConfig:
    """A small recurrent FF config: dense with hard negatives ("recurrent"), dense with uniform negatives and
    the softmax readout ("readout"), or two locally connected maps computed by tiles, 3 x 3 windows on
    MNIST's 28 x 28 grid in 8 x 8 tiles whose last row and column run past it ("tiles")."""
    from ffrepro.config import RecurrentFFConfig
    from ffrepro.local import LocalSpec

    if case == "tiles":
        spec = LocalSpec(grid=28, window=3, stride=1, channels=2, padding=1)
        model = RecurrentFFConfig(hidden=(spec.units, spec.units), local=(spec, spec), iterations=4, loss_iterations=(2, 4), test_window=(2, 3),
                                  threshold_per_unit=0.2)  # goodness near the threshold: neither video's loss saturated
    else:
        readout = case == "readout"
        model = RecurrentFFConfig(hidden=(48, 40, 32), negative_labels="uniform" if readout else "hard", softmax_readout=readout,
                                  threshold_per_unit=0.3, precision=precision)  # type: ignore[arg-type]
    cfg = RunConfig(method="ff-recurrent", data=DataConfig(eval_examples=100), model=model)
    validate(cfg)
    return cfg


@pytest.mark.parametrize("case", ["recurrent", "readout", "tiles"])
def test_the_recurrent_update_equals_the_float64_reference(case: str) -> None:
    """Recurrent FF's written-out update (a stack of one) against autograd through the videos that the net's
    own modules run (tests/reference.py), both in float64: every gradient (bottom-up, top-down, the label's
    map, the biases, the readout's) and running mean, with hard or uniform negatives, and with locally
    connected maps multiplied by tiles (their compact weights' gradients gathered back from the block matrices)."""
    from ffrepro.local import LocallyConnected

    cfg = _recurrent(case)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        package, reference, means = _update_and_reference(cfg, _float64(_tiny_data(100)), "both")
        if case == "tiles":
            from ffrepro.methods import METHODS
            net = METHODS[cfg.method].trainer(cfg, _tiny_data(100), torch.Generator()).net
            assert all(m.computation == "tiles" for m in net.modules() if isinstance(m, LocallyConnected))
    finally:
        torch.set_default_dtype(default)
    assert package.keys() == reference.keys() and len(package) >= 4
    for name, g in package.items():
        assert g.dtype == torch.float64 and reference[name].abs().max() > 0, name
        assert (g - reference[name]).abs().max() <= 1e-8 * reference[name].abs().max(), name  # softplus's cut-off, as above
    for name, (a, b) in means.items():
        assert torch.allclose(a, b, rtol=1e-12, atol=0), name


def test_recurrent_bf16_update_matches_the_float32_reference_to_bf16_rounding() -> None:
    """Recurrent FF with bf16 products (bottom-up, top-down and the label's map, whose inputs carry a label
    axis): one update's gradients of every weight and bias against the float32 reference's from the same
    weights and draws, to bf16 rounding (measured at 3 x 2000 on MNIST: 0.2-0.3 % relative)."""
    from ffrepro.recurrent import FFRecurrentTrainer

    cfg = _recurrent("recurrent", "bf16")
    torch.manual_seed(0)
    net = FFRecurrentTrainer(cfg, _tiny_data(100), torch.Generator()).net
    assert isinstance(net.top_down[0], Bf16Linear) and net.top_down[0].bias is None and isinstance(net.layers[0].linear, Bf16Linear)
    package, reference, _ = _update_and_reference(cfg, _tiny_data(100), "both", _recurrent("recurrent"))
    for name, g in package.items():
        assert g.dtype == torch.float32 and (g - reference[name]).norm() <= 0.02 * reference[name].norm(), name


def test_bf16_is_refused_where_it_is_not_implemented() -> None:
    from dataclasses import replace

    from ffrepro.registry import get_experiment

    cfg = get_experiment("cifar10-ff-min-ssq-2layers").config("smoke")  # recurrent FF with locally connected maps
    assert cfg.method == "ff-recurrent" and cfg.model.local
    with pytest.raises(ConfigError, match="model.precision 'bf16' is implemented for the dense layers"):
        validate(replace(cfg, model=replace(cfg.model, precision="bf16")))
    with pytest.raises(ConfigError, match="model.precision must be fp32 or bf16"):
        validate(RunConfig(method="ff-supervised", model=FFConfig(precision="fp16")))  # type: ignore[arg-type]


@pytest.mark.parametrize("units, method, expect", [
    (["avx512_bf16"], "mnist-ff-supervised", "bf16"),  # validated, with bf16 units
    ([], "mnist-ff-supervised", "fp32"),  # no bf16 units: emulated bf16 would gain nothing
    (["amx_bf16"], "mnist-ff-recurrent", "bf16"),  # validated (mnist-ff-recurrent-2layers/bf16), with AMX
    (["amx_bf16"], "mnist-ff-unsupervised", "bf16"),  # validated (mnist-ff-unsupervised/bf16), with AMX
    (["avx512_bf16"], "mnist-ff-unsupervised-local", "fp32"),  # locally connected maps
    (["avx512_bf16"], "mnist-bp", "fp32"),  # backprop has no precision field: fp32, as asked
])
def test_auto_precision_takes_bf16_only_where_validated_and_native(monkeypatch: pytest.MonkeyPatch, units: list[str], method: str, expect: str) -> None:
    from dataclasses import replace

    from ffrepro import methods
    from ffrepro.registry import get_experiment

    monkeypatch.setattr(methods, "cpu_bf16_units", lambda: units)
    monkeypatch.setattr(methods, "bf16_native", lambda device: bool(units))
    cfg = get_experiment(method).config("smoke")
    if hasattr(cfg.model, "precision"):
        cfg = replace(cfg, model=replace(cfg.model, precision="auto"))
        validate(cfg)
    precision, why = methods.run_precision(cfg, torch.device("cpu"))
    assert precision == expect and (why is None) == (not hasattr(cfg.model, "precision"))
    assert methods.as_run(cfg, precision).model.__dict__.get("precision", "fp32") == precision


def test_an_auto_run_records_what_ran_and_why_and_matches_either_precision(tmp_path: Path) -> None:
    """A run with model.precision "auto" keeps "auto" in its results' config (so it is a run of that
    config on any machine), builds its net in the precision chosen here, and says so in its provenance."""
    from dataclasses import replace

    from ffrepro import ff
    from ffrepro.config import completed_with, override
    from ffrepro.registry import get_experiment
    from ffrepro.runner import run

    exp = "mnist-ff-supervised"
    cfg = override(get_experiment(exp).config("smoke"), {"model.precision": "auto", "optim.epochs": "1", "data.train_examples": "200"})
    out = run(exp, "smoke", 0, config=cfg, results_dir=tmp_path / "results", checkpoint_dir=tmp_path / "ckpt", progress=False)
    ran = "bf16" if ff.CPU_BF16_UNITS else "fp32"
    assert out["config"]["model"]["precision"] == "auto" and out["provenance"]["precision"] == ran
    assert out["provenance"]["precision_choice"].startswith(f"auto: {ran}, ")
    for precision in ("fp32", "bf16"):  # a fixed-precision result is a run of "auto", and the other way round
        stored = {**out, "config": {**out["config"], "model": {**out["config"]["model"], "precision": precision}}}
        assert completed_with(stored, cfg) and completed_with(out, replace(cfg, model=replace(cfg.model, precision=precision)))


def test_a_method_is_bf16_validated_only_with_its_committed_evidence() -> None:
    """``model.precision = "auto"`` takes bf16 for a method marked "validated": that mark must rest on
    committed cpu-profile results, three seeds of the fp32 entry and three of its bf16 variant, whose
    means differ by no more than the fp32 seeds' spread (the book shows the same comparison)."""
    from ffrepro.figures.common import precision_validation
    from ffrepro.methods import METHODS
    from ffrepro.registry import get_experiment

    for method in METHODS.values():
        if method.bf16_validation is not None:
            exp_id, variant = method.bf16_validation
            assert get_experiment(exp_id).config("cpu").method == method.name
            assert get_experiment(f"{exp_id}/{variant}").config("cpu").model.precision == "bf16"
        if method.bf16 == "validated":
            assert method.bf16_validation is not None, method.name
            _, verdict = precision_validation(*method.bf16_validation, "cpu")
            assert verdict["within"] and verdict["fp32_seeds"] >= 3 and verdict["variant_seeds"] >= 3, method.name


def test_auto_precision_is_for_the_paper_scale_only() -> None:
    """The smoke references are fp32 runs and the cpu profile is where bf16 is validated against fp32, so a
    paper config's "auto" becomes fp32 in both derived profiles."""
    from dataclasses import replace

    from ffrepro.config import derive_profile
    from ffrepro.registry import get_experiment

    exp = get_experiment("mnist-ff-recurrent")
    paper = replace(exp.paper_config, model=replace(exp.paper_config.model, precision="auto"))
    assert derive_profile(paper, "paper", exp.cpu_width, exp.cpu_epoch_fraction).model.precision == "auto"
    for profile in ("smoke", "cpu"):
        assert derive_profile(paper, profile, exp.cpu_width, exp.cpu_epoch_fraction).model.precision == "fp32"


@pytest.mark.parametrize("case", ["dense", "tiles", "box"])
def test_the_backprop_update_equals_the_float64_reference(case: str) -> None:
    """Backprop's update (ffrepro.stacked.StackedBP, a stack of one) against autograd through the net's own
    modules, in float64: every gradient of one minibatch to 1e-12 of its size, for dense layers, locally
    connected maps computed by tiles (the stack multiplies each seed's compact weights scattered into the
    block matrices) and a black box passing the gradient straight through."""
    import torch.nn.functional as F

    from ffrepro.bp import BPTrainer
    from ffrepro.config import BPConfig
    from ffrepro.local import LocalSpec, LocallyConnected
    from ffrepro.stacked import StackedBP

    spec = LocalSpec(grid=28, window=3, stride=1, channels=2, padding=1)
    model = {"dense": BPConfig(hidden=(40, 30)), "tiles": BPConfig(hidden=(spec.units, spec.units), local=(spec, spec)),
             "box": BPConfig(hidden=(40, 30), black_box_after=1, black_box_gradient="straight_through")}[case]
    cfg = RunConfig(method="bp", data=DataConfig(eval_examples=100), model=model)  # type: ignore[arg-type]
    validate(cfg)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        data = _float64(_tiny_data(100))
        torch.manual_seed(0)
        trainer = BPTrainer(cfg, data, torch.Generator().manual_seed(0))
        assert case != "tiles" or all(m.computation == "tiles" for m in trainer.net.modules() if isinstance(m, LocallyConnected))
        x, y = data.train.x[:20], data.train.y[:20]
        stack = StackedBP([trainer])
        stack._stack()
        package = torch.autograd.grad(stack.loss(x[None], y[None]).sum(), stack.params)
        F.cross_entropy(trainer.net(x), y).backward()
    finally:
        torch.set_default_dtype(default)
    for (name, p), g in zip(trainer.net.named_parameters(), package):
        assert p.grad is not None and p.grad.abs().max() > 0, name
        assert (g[0] - p.grad).abs().max() <= 1e-12 * p.grad.abs().max(), name
