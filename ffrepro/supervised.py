"""Supervised FF training on label-embedded images (paper section 3.3).

Per minibatch, as in ffcode: a neutral-label pass trains the softmax readout (and, for hard
negatives, supplies the prediction the wrong label is sampled from); then positive images (true
label) and negative images (a wrong label) go through the net together and every layer takes a
step on its own loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ffrepro.config import FFConfig, RunConfig
from ffrepro.data import Dataset, Split
from ffrepro.ff import INFERENCE_MODES, FFNet, wrong_labels
from ffrepro.optim import SmoothedSGD, lr_gain, set_gain

EVAL_CHUNK = 1000
GOODNESS_SAMPLE = 500  # validation examples whose per-layer goodness is saved for the book


def predict(net: FFNet, x: torch.Tensor, mode: str, chunk: int = EVAL_CHUNK) -> torch.Tensor:
    """Predicted labels under an inference mode, in chunks. x: (N, D) -> (N,)"""
    fn = INFERENCE_MODES[mode]
    return torch.cat([fn(net, x[i : i + chunk]).argmax(1) for i in range(0, x.shape[0], chunk)])


def error_rate(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Percentage of wrong predictions."""
    return 100.0 * (pred != y).float().mean().item()


class FFSupervisedTrainer:
    """Trains an :class:`FFNet` with label-embedded positive and negative data."""

    def __init__(self, cfg: RunConfig, data: Dataset, generator: torch.Generator):
        assert isinstance(cfg.model, FFConfig)
        self.cfg, self.data, self.gen = cfg, data, generator
        self.train_split = data.train.head(cfg.data.train_examples)
        self.net = FFNet(data.num_inputs, cfg.model).to(data.train.x.device)
        o = cfg.optim
        weights = [layer.linear.weight for layer in self.net.layers]
        biases = [layer.linear.bias for layer in self.net.layers]
        self.optimizer = SmoothedSGD(
            [
                dict(params=weights, lr=o.lr, weight_decay=o.weight_decay),
                dict(params=biases, lr=o.lr, weight_decay=0.0),
                dict(params=self.net.readout.parameters(), lr=o.readout_lr, weight_decay=o.readout_weight_decay),
            ],
            lr=o.lr,
            smoothing=o.smoothing,
        )

    def batches(self) -> int:
        return -(-len(self.train_split) // self.cfg.data.batch_size)

    def train_epoch(self, epoch: int, progress: Any = None) -> dict[str, Any]:
        net, cfg = self.net, self.cfg
        set_gain(self.optimizer, lr_gain(epoch, cfg.optim.epochs))
        x_all, y_all = self.train_split.x, self.train_split.y
        perm = torch.randperm(len(y_all), generator=self.gen, device=y_all.device)
        L = len(net.layers)
        sums = torch.zeros(4, L, device=y_all.device)  # loss, pos goodness, neg goodness, neg>pos
        readout_loss = torch.zeros((), device=y_all.device)
        bs = cfg.data.batch_size
        for start in range(0, len(perm), bs):
            idx = perm[start : start + bs]
            x, y = x_all[idx], y_all[idx]
            n = len(y)
            with torch.no_grad():
                neutral_states = net.forward(net.embed(x, None))
            logits = net.readout_logits(neutral_states)
            r_loss = F.cross_entropy(logits, y)
            neg = wrong_labels(y, self.gen, logits if cfg.model.negative_labels == "hard" else None)
            states = net.forward(torch.cat([net.embed(x, y), net.embed(x, neg)]))  # (2n, .) per layer
            loss = r_loss
            for i, (layer, (z, h)) in enumerate(zip(net.layers, states)):
                layer_loss = layer.loss(z[:n], h[:n], h[n:])
                loss = loss + layer_loss
                with torch.no_grad():
                    g = layer.goodness(h)
                    sums[0, i] += layer_loss.detach() * n
                    sums[1, i] += g[:n].sum()
                    sums[2, i] += g[n:].sum()
                    sums[3, i] += (g[n:] > g[:n]).float().sum()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            readout_loss += r_loss.detach() * n
            if progress is not None:
                progress.update(1)
        sums /= len(perm)
        val = self.data.val.head(cfg.data.eval_examples)
        return {
            "layer_loss": sums[0].tolist(),
            "pos_goodness": sums[1].tolist(),
            "neg_goodness": sums[2].tolist(),
            "neg_beats_pos": sums[3].tolist(),
            "readout_loss": readout_loss.item() / len(perm),
            "val_error_softmax": error_rate(predict(net, val.x, "softmax"), val.y),
        }

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Error (%) of every inference mode on train (first 10k, as ffcode estimates it), val and test."""
        n_eval = self.cfg.data.eval_examples
        splits: dict[str, Split] = {
            "train": self.train_split.head(n_eval or len(self.data.val)),
            "val": self.data.val.head(n_eval),
            "test": self.data.test.head(n_eval),
        }
        return {
            name: {mode: error_rate(predict(self.net, s.x, mode), s.y) for mode in INFERENCE_MODES}
            for name, s in splits.items()
        }

    @torch.no_grad()
    def extras(self) -> dict[str, Any]:
        """Per-layer goodness of positive and negative validation data, for the book's histograms."""
        val = self.data.val.head(GOODNESS_SAMPLE)
        neg = wrong_labels(val.y, torch.Generator(val.y.device).manual_seed(0))
        out: dict[str, Any] = {"goodness_sample": {}}
        for kind, labels in (("positive", val.y), ("negative", neg)):
            states = self.net.forward(self.net.embed(val.x, labels))
            out["goodness_sample"][kind] = [[round(v, 2) for v in self.net.layers[0].goodness(h).tolist()] for _, h in states]
        out["threshold"] = [layer.threshold for layer in self.net.layers]
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
