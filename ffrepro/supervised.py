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
from ffrepro.ff import INFERENCE_MODES, FFNet, LabelledBatch, wrong_labels
from ffrepro.optim import lr_gain, set_gain
from ffrepro.trainer import EVAL_CHUNK, FF_STATS, GOODNESS_SAMPLE, PROBE, Trainer, error_rate, ff_optimizer, ff_step, ff_stats, goodness_sample
from ffrepro.weights import pack_weights

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
        """One epoch of updates in the order of ``model.schedule`` (:meth:`Trainer.updates`). An update
        with positive data also trains the readout (labelled data); a negative-only update ("night")
        makes its wrong labels when it comes, from the readout's prediction at that moment if hard."""
        net, cfg = self.net, self.cfg
        set_gain(self.optimizer, lr_gain(epoch, cfg.optim.epochs))
        device = self.train_split.y.device
        stats = torch.zeros(len(FF_STATS), len(net.layers), device=device)
        readout_loss = torch.zeros((), device=device)
        hard = cfg.model.negative_labels == "hard"
        updates = self.updates()
        tracer = self.phase_tracer(epoch, updates)
        for step, (phase, idx) in enumerate(updates):
            x, y = self.batch(idx)  # shifted first (data.jitter), so the label pixels never move
            n = len(y)
            # layer 1's image product, once for the neutral, positive and negative labels (LabelledBatch)
            shared = LabelledBatch(net, x) if net.shares_first_layer() else None
            readout = None  # the readout's loss, trained in the same update
            logits = None
            if phase != "negative" or hard:
                with torch.no_grad():
                    neutral_states = net.forward(None, first=shared.first([None])) if shared else net.forward(net.embed(x, None))
                if phase != "negative":  # the readout learns where the labels are shown
                    logits = net.readout_logits(neutral_states)
                    readout = F.cross_entropy(logits, y)
                    readout_loss += readout.detach() * n
                else:
                    with torch.no_grad():
                        logits = net.readout_logits(neutral_states)
            neg = wrong_labels(y, self.gen, logits if hard else None) if phase != "positive" else None
            labels = {"positive": [y], "negative": [neg], "both": [y, neg]}[phase]
            if shared is not None:
                first: torch.Tensor | None = shared.first(labels)
                inputs = None
            else:
                first, inputs = None, torch.cat([net.embed(x, label) for label in labels])
            ff_step(net, self.optimizer, inputs, n, stats, phase, cfg.model.streaming, extra_loss=readout, first=first)
            if tracer is not None:
                tracer.after(step)
            if progress is not None:
                progress.update(1)
        val = self.data.val.head(cfg.data.eval_examples)
        return {
            **ff_stats(stats, self.epoch_examples()),
            "readout_loss": readout_loss.item() / self.epoch_examples(),
            "val_error_softmax": error_rate(predict(net, val.x, "softmax"), val.y),
            **self.schedule_log(updates, tracer),
        }

    def probe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first validation images with their true label and with a fixed uniform wrong label."""
        val = self.data.val.head(PROBE)
        neg = wrong_labels(val.y, torch.Generator(val.y.device).manual_seed(0))
        return self.net.embed(val.x, val.y), self.net.embed(val.x, neg)

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
