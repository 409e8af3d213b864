"""Unsupervised FF on MNIST (paper section 3.2): hybrid-image negatives, then a linear readout.

Positive data are real digits; negative data are *hybrid images*: two different digits glued
together by a blobby random mask, so that short-range correlations look like a digit's while the
long-range shape does not. No label enters the input. After FF training the weights are frozen and
a linear softmax classifier is trained on the length-normalised activities of chosen layers.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ffrepro.compiled import Compiled
from ffrepro.config import RunConfig, UnsupervisedFFConfig
from ffrepro.data import NUM_CLASSES, Dataset
from ffrepro.ff import Box, Constants, FFNet, layer_grads, length_normalize, matmul, upward
from ffrepro.optim import SmoothedSGD, lr_gain, set_gain
from ffrepro.stacked import StackedFF
from ffrepro.trainer import EVAL_CHUNK, GOODNESS_SAMPLE, PROBE, Trainer, error_rate, ff_optimizer, first_layer_fields, goodness_sample

BLUR = torch.tensor([0.25, 0.5, 0.25])


def blur(images: torch.Tensor, steps: int) -> torch.Tensor:
    """Blur (N, H, W) images ``steps`` times with [1/4, 1/2, 1/4] horizontally and vertically."""
    k = BLUR.to(images)
    x = images.unsqueeze(1)  # (N, 1, H, W)
    for _ in range(steps):
        x = F.conv2d(F.pad(x, (1, 1, 0, 0), mode="replicate"), k.view(1, 1, 1, 3))
        x = F.conv2d(F.pad(x, (0, 0, 1, 1), mode="replicate"), k.view(1, 1, 3, 1))
    return x.squeeze(1)


def hybrid_masks(n: int, side: int, steps: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """Binary masks with large blobs: random bits, blurred ``steps`` times, thresholded at 0.5.

    -> (N, side, side) float tensor of 0s and 1s.
    """
    return blurred_masks(torch.randint(0, 2, (n, side, side), generator=generator, device=device).float(), steps)


def blurred_masks(bits: torch.Tensor, steps: int) -> torch.Tensor:
    """Random bits (N, side, side) blurred ``steps`` times and thresholded at 0.5: :func:`hybrid_masks`."""
    return (blur(bits, steps) > 0.5).float()


def hybrid_images(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """digit A x mask + digit B x (1 - mask). a, b: (..., N, D); mask: (..., N, side, side) -> (..., N, D)"""
    m = mask.reshape(a.shape)
    return a * m + b * (1 - m)


def hybrid_draws(n: int, side: int, generator: torch.Generator, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """What :func:`make_negatives` draws from ``generator``, in its order (stacked seeds draw each seed's
    from its own, :mod:`ffrepro.stacked`): each image's partner in the batch (the batch shifted by 1 to
    n - 1 places, never the image itself), then the masks' random bits. -> (partner (N,), bits (N, side, side))"""
    shift = torch.randint(1, n, (1,), generator=generator, device=device) if n > 1 else torch.zeros(1, dtype=torch.long, device=device)
    return (torch.arange(n, device=device) + shift) % n, torch.randint(0, 2, (n, side, side), generator=generator, device=device).float()


def make_negatives(x: torch.Tensor, steps: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hybrids of each image with another image of the same batch. x: (N, D) -> (hybrids, partner index, masks)."""
    partner, bits = hybrid_draws(x.shape[0], int(round(x.shape[1] ** 0.5)), generator, x.device)
    masks = blurred_masks(bits, steps)
    return hybrid_images(x, x[partner], masks), partner, masks


def readout_subsets(depth: int) -> dict[str, list[int]]:
    """Layer subsets (0-based) the readout is trained on: each single layer, the last three, all."""
    subsets = {f"layer{i + 1}": [i] for i in range(depth)}
    subsets["last3"] = list(range(max(0, depth - 3), depth))
    subsets["all"] = list(range(depth))
    return subsets


@torch.no_grad()
def normalized_activities(net: FFNet, x: torch.Tensor, chunk: int = EVAL_CHUNK) -> list[torch.Tensor]:
    """Length-normalised activities of every layer. x: (N, D) -> [(N, units_l)]"""
    parts = [[length_normalize(h) for _, h in net.forward(x[i : i + chunk])] for i in range(0, x.shape[0], chunk)]
    return [torch.cat([p[layer] for p in parts]) for layer in range(len(net.layers))]


def train_readout(feats: torch.Tensor, y: torch.Tensor, epochs: int, generator: torch.Generator, batch_size: int = 100, lr: float = 0.1, weight_decay: float = 0.003) -> torch.nn.Linear:
    """A linear softmax classifier on training features only (ffcode's readout settings).

    feats: (N, F) from the *training* split; y: (N,).
    """
    readout = torch.nn.Linear(feats.shape[1], NUM_CLASSES).to(feats.device)
    torch.nn.init.zeros_(readout.weight)
    torch.nn.init.zeros_(readout.bias)
    opt = SmoothedSGD(readout.parameters(), lr=lr, smoothing=0.9, weight_decay=weight_decay)
    for epoch in range(1, epochs + 1):
        set_gain(opt, lr_gain(epoch, epochs))
        perm = torch.randperm(len(y), generator=generator, device=y.device)
        for start in range(0, len(y), batch_size):
            idx = perm[start : start + batch_size]
            loss = F.cross_entropy(readout(feats[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return readout


def plain_pass(inputs: torch.Tensor, n_pos: int, n: int, weights: list[torch.Tensor], biases: list[torch.Tensor], mean_activity: list[torch.Tensor],
               layers: tuple[Constants, ...], bf16: tuple[bool, ...], box: Box | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """:func:`ffrepro.ff.layer_grads` of inputs without labels: each seed's (S, rows, D) inputs, the first
    ``n_pos`` rows positive, each layer's input length-normalised."""
    a0 = length_normalize(inputs)
    z1 = matmul(a0, weights[0].mT, bf16[0]).add_(biases[0][:, None, :])
    return layer_grads(upward(a0, z1, weights, biases, bf16, box), n_pos, n, mean_activity, layers, bf16)


_compiled_plain = Compiled(plain_pass)


class StackedFFUnsupervised(StackedFF):
    """Unsupervised FF's update (:class:`FFUnsupervisedTrainer`) of one seed or several stacked
    (:class:`ffrepro.stacked.StackedFF`): real images positive, hybrids of two images of the same batch
    negative."""

    def _update(self, x: torch.Tensor, y: torch.Tensor, phase: str) -> tuple[list[list[torch.Tensor] | None], torch.Tensor]:
        """Where negative data are shown (night updates make theirs when they come), each seed's hybrids
        from its own generator (:func:`hybrid_draws`), the masks of all seeds blurred together; then the
        real images, the hybrids, or both go through (:func:`plain_pass`)."""
        seeds, n, width = x.shape
        inputs, n_pos = x, n
        if phase != "positive":
            draws = [hybrid_draws(n, int(round(width**0.5)), t.gen, x.device) for t in self.trainers]
            partner = torch.stack([p for p, _ in draws])
            masks = blurred_masks(torch.cat([bits for _, bits in draws]), self.cfg.model.blur_steps).view(seeds, n, width)
            neg = hybrid_images(x, torch.gather(x, 1, partner[..., None].expand(-1, -1, width)), masks)
            inputs, n_pos = (neg, 0) if phase == "negative" else (torch.cat([x, neg], 1), n)
        weight_grads, bias_grads, stats = self.run_pass(_compiled_plain)(
            inputs, n_pos, n, self.product_weights(), self.product[1], self.mean_activity, self.layer_constants, self.bf16, self.box)
        return [weight_grads, bias_grads], stats


class FFUnsupervisedTrainer(Trainer):
    """FF on real (positive) versus hybrid (negative) images, then linear readouts."""

    def __init__(self, cfg: RunConfig, data: Dataset, generator: torch.Generator):
        assert isinstance(cfg.model, UnsupervisedFFConfig)
        super().__init__(cfg, data, generator)
        self.net = FFNet(data.num_inputs, cfg.model).to(data.train.x.device)
        self.optimizer = ff_optimizer(self.net, cfg, with_readout=False)

    def train_epoch(self, epoch: int, progress: Any = None) -> dict[str, Any]:
        """One epoch of updates in the order of ``model.schedule``: this seed as a stack of one (:class:`StackedFFUnsupervised`)."""
        return StackedFFUnsupervised([self]).train_epoch(epoch, progress)[0]

    def probe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first validation images and fixed hybrids of them."""
        val = self.data.val.head(PROBE)
        neg, _, _ = make_negatives(val.x, self.cfg.model.blur_steps, torch.Generator(val.x.device).manual_seed(0))
        return val.x, neg

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Readout error (%) per layer subset. The readouts are trained on the training split only."""
        splits = self.eval_splits()
        train_feats = normalized_activities(self.net, self.train_split.x)
        feats = {name: normalized_activities(self.net, s.x) for name, s in splits.items()}
        out: dict[str, dict[str, float]] = {name: {} for name in splits}
        for subset, layers in readout_subsets(len(self.net.layers)).items():
            gen = torch.Generator(self.train_split.x.device).manual_seed(0)
            readout = train_readout(
                torch.cat([train_feats[i] for i in layers], 1), self.train_split.y, self.cfg.model.readout_epochs, gen,
                batch_size=self.cfg.data.batch_size, lr=self.cfg.optim.readout_lr, weight_decay=self.cfg.optim.readout_weight_decay,
            )
            with torch.no_grad():
                for name, s in splits.items():
                    logits = readout(torch.cat([feats[name][i] for i in layers], 1))
                    out[name][subset] = error_rate(logits.argmax(1), s.y)
        return out

    def extras(self) -> dict[str, Any]:
        val = self.data.val.head(GOODNESS_SAMPLE)
        neg, _, _ = make_negatives(val.x, self.cfg.model.blur_steps, torch.Generator(val.x.device).manual_seed(0))
        return {**goodness_sample(self.net, val.x, neg), "receptive_fields": first_layer_fields(self.net)}
