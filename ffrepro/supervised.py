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
from ffrepro.data import Dataset
from ffrepro.ff import INFERENCE_MODES, FFNet, wrong_labels
from ffrepro.optim import lr_gain, set_gain
from ffrepro.trainer import EVAL_CHUNK, FF_STATS, GOODNESS_SAMPLE, Trainer, error_rate, ff_layer_losses, ff_optimizer, ff_stats, goodness_sample, pack_weights

FIELD_UNITS = 100  # first-layer units whose weights the results keep (Figure 2 shows 100)


def predict(net: FFNet, x: torch.Tensor, mode: str, chunk: int = EVAL_CHUNK) -> torch.Tensor:
    """Predicted labels under an inference mode, in chunks. x: (N, D) -> (N,)"""
    fn = INFERENCE_MODES[mode]
    return torch.cat([fn(net, x[i : i + chunk]).argmax(1) for i in range(0, x.shape[0], chunk)])


class FFSupervisedTrainer(Trainer):
    """Trains an :class:`FFNet` with label-embedded positive and negative data."""

    def __init__(self, cfg: RunConfig, data: Dataset, generator: torch.Generator):
        assert isinstance(cfg.model, FFConfig)
        super().__init__(cfg, data, generator)
        self.net = FFNet(data.num_inputs, cfg.model).to(data.train.x.device)
        self.optimizer = ff_optimizer(self.net, cfg, with_readout=True)

    def train_epoch(self, epoch: int, progress: Any = None) -> dict[str, Any]:
        net, cfg = self.net, self.cfg
        set_gain(self.optimizer, lr_gain(epoch, cfg.optim.epochs))
        device = self.train_split.y.device
        stats = torch.zeros(len(FF_STATS), len(net.layers), device=device)
        readout_loss = torch.zeros((), device=device)
        for idx in self.minibatches():
            x, y = self.batch(idx)  # shifted first (data.jitter), so the label pixels never move
            n = len(y)
            with torch.no_grad():
                neutral_states = net.forward(net.embed(x, None))
            logits = net.readout_logits(neutral_states)
            r_loss = F.cross_entropy(logits, y)
            neg = wrong_labels(y, self.gen, logits if cfg.model.negative_labels == "hard" else None)
            states = net.forward(torch.cat([net.embed(x, y), net.embed(x, neg)]))  # (2n, .) per layer
            loss = r_loss + ff_layer_losses(net, states, n, stats)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            readout_loss += r_loss.detach() * n
            if progress is not None:
                progress.update(1)
        val = self.data.val.head(cfg.data.eval_examples)
        return {
            **ff_stats(stats, self.epoch_examples()),
            "readout_loss": readout_loss.item() / self.epoch_examples(),
            "val_error_softmax": error_rate(predict(net, val.x, "softmax"), val.y),
        }

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Error (%) of every inference mode on train, validation and test."""
        return {
            name: {mode: error_rate(predict(self.net, s.x, mode), s.y) for mode in INFERENCE_MODES}
            for name, s in self.eval_splits().items()
        }

    def extras(self) -> dict[str, Any]:
        """Per-layer goodness of positive and negative validation data, for the book's histograms, and
        the weights of the first layer's first 100 units (the paper's Figure 2, label pixels included)."""
        val = self.data.val.head(GOODNESS_SAMPLE)
        neg = wrong_labels(val.y, torch.Generator(val.y.device).manual_seed(0))
        fields = pack_weights(self.net.layers[0].linear.weight[:FIELD_UNITS])  # (100, 784): rows are 28 x 28 images
        return {**goodness_sample(self.net, self.net.embed(val.x, val.y), self.net.embed(val.x, neg)), "first_layer_weights": fields}
