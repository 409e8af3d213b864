"""Plain, slow references of the FF updates, written to be read (issue 28).

The package computes each update once, with its gradients written out, for one seed or a stack of
seeds (ffrepro.ff, ffrepro.supervised, ffrepro.unsupervised, ffrepro.recurrent). The references here are what those
updates mean: every labelled copy of a minibatch made and multiplied out, each layer's loss as the
paper states it (FFLayer.loss_terms), and autograd for the gradients; the optimiser step as ffcode's
formula, tensor by tensor. The tests run both in float64 and compare.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ffrepro.ff import FFLayer, FFNet, length_normalize, wrong_labels
from ffrepro.optim import SmoothedSGD
from ffrepro.recurrent import RecurrentFFNet


def ff_layer_losses(net: FFNet, inputs: torch.Tensor, n: int, phase: str) -> torch.Tensor:
    """The sum of every layer's FF loss (logistic loss plus peer-normalisation term) on ``inputs``: the first
    ``n`` rows positive and the next ``n`` negative (phase "both"), or all ``n`` rows positive ("positive")
    or negative ("negative"). Each layer sees the length-normalised states of the layer below, detached,
    so each layer's gradient comes from its own loss alone. Updates the running means, as training does."""
    total = torch.zeros((), dtype=inputs.dtype)
    a = inputs
    for i, layer in enumerate(net.layers):
        z = layer.linear(length_normalize(a).detach())
        h = torch.relu(z)
        g = (h**2).sum(1)
        pos = slice(0, n) if phase != "negative" else None
        neg = slice(n, 2 * n) if phase == "both" else (slice(0, n) if phase == "negative" else None)
        ff, peer = layer.loss_terms(z[pos] if pos else None, h[pos] if pos else None, g[pos] if pos else None, g[neg] if neg else None)
        total = total + ff + peer
        a = net.passed_on(i, h)
    return total


def supervised_grads(net: FFNet, x: torch.Tensor, y: torch.Tensor, wrong: torch.Tensor | None, phase: str) -> dict[str, torch.Tensor]:
    """The gradient of every parameter in one supervised FF update: where the labels are shown, the softmax
    readout's cross-entropy (mean over the batch) on the neutral-label pass, whose states carry no
    gradient; then the images with the true label (positive) and ``wrong`` (negative) written in."""
    net.zero_grad(set_to_none=True)
    loss = torch.zeros((), dtype=x.dtype)
    if phase != "negative":
        with torch.no_grad():
            neutral = net.forward(net.embed(x, None))
        loss = loss + F.cross_entropy(net.readout_logits(neutral), y)
    labels = {"both": [y, wrong], "positive": [y], "negative": [wrong]}[phase]
    inputs = torch.cat([net.embed(x, label) for label in labels])
    (loss + ff_layer_losses(net, inputs, len(y), phase)).backward()
    return {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}


def unsupervised_grads(net: FFNet, x: torch.Tensor, hybrids: torch.Tensor, phase: str) -> dict[str, torch.Tensor]:
    """The gradient of every parameter in one unsupervised FF update: the real images positive, the hybrids negative."""
    net.zero_grad(set_to_none=True)
    inputs = {"both": torch.cat([x, hybrids]), "positive": x, "negative": hybrids}[phase]
    ff_layer_losses(net, inputs, len(x), phase).backward()
    return {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}


def recurrent_negatives(net: RecurrentFFNet, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Wrong labels: uniform, or (hard) sampled from the softmax of each label's goodness after
    ``negative_iterations`` steps, the true label masked out."""
    if net.cfg.negative_labels != "hard":
        return wrong_labels(y, gen)
    return wrong_labels(y, gen, net.label_goodness(x, net.cfg.negative_iterations)[-1])


def recurrent_grads(net: RecurrentFFNet, x: torch.Tensor, y: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
    """The gradient of every parameter in one recurrent FF update: the positive (label ``y``) and negative
    (``neg``) videos run by the net's own modules, every layer's FF loss at every loss iteration averaged
    over those iterations (a layer that no label has reached yet carries none: both videos are the same
    there), and the readout's cross-entropy on the neutral-label run's window of states, which carry no
    gradient; autograd for the rest. Updates the running means, as training does."""
    net.zero_grad(set_to_none=True)
    first, last = net.cfg.loss_iterations
    n, loss = len(y), torch.zeros((), dtype=x.dtype)
    for states in net.run(x, torch.stack([y, neg]), last)[first : last + 1]:
        for layer, (z, h) in zip(net.layers, states):
            if h.shape[0] == 1:
                continue
            g = FFLayer.goodness(h.flatten(0, 1)).view(2, n)
            ff, peer = layer.loss_terms(z[0], h[0], g[0], g[1])
            loss = loss + (ff + peer) / (last - first + 1)
    if net.readout is not None:
        loss = loss + F.cross_entropy(net.readout(net.readout_features(x)), y)
    loss.backward()
    return {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}


def smoothed_sgd_step(optimizer: SmoothedSGD) -> None:
    """ffcode's step, tensor by tensor: the smoothed gradient ``g = s g + (1 - s) grad``, then
    ``w = w - lr wd w - lr g`` (:func:`ffrepro.optim.smoothed_step` does all of a group at once)."""
    with torch.no_grad():
        for group in optimizer.param_groups:
            lr, s, wd = group["lr"], group["smoothing"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is not None:
                    g = optimizer._smoothed(p)
                    g.mul_(s).add_(p.grad, alpha=1 - s)
                    p.add_(p, alpha=-lr * wd).add_(g, alpha=-lr)
