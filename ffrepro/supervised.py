"""Supervised FF training on label-embedded images (paper section 3.3).

Per minibatch, as in ffcode: a neutral-label pass trains the softmax readout (and, for hard
negatives, supplies the prediction the wrong label is sampled from); then positive images (true
label) and negative images (a wrong label) go through the net together and every layer takes a
step on its own loss (:class:`StackedFFSupervised`, for one seed or several).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ffrepro.compiled import Compiled
from ffrepro.config import FFConfig, RunConfig
from ffrepro.data import NUM_CLASSES, Dataset
from ffrepro.ff import INFERENCE_MODES, Box, Constants, FFNet, label_pixels, labelled_first, layer_grads, length_normalize, matmul, unlabelled_images, upward, wrong_labels
from ffrepro.stacked import StackedFF
from ffrepro.trainer import EVAL_CHUNK, GOODNESS_SAMPLE, PROBE, Trainer, error_rate, ff_optimizer, goodness_sample
from ffrepro.weights import pack_weights

FIELD_UNITS = 100  # first-layer units whose weights the results keep (Figure 2 shows 100)


def predict(net: FFNet, x: torch.Tensor, mode: str, chunk: int = EVAL_CHUNK) -> torch.Tensor:
    """Predicted labels under an inference mode, in chunks. x: (N, D) -> (N,)"""
    fn = INFERENCE_MODES[mode]
    return torch.cat([fn(net, x[i : i + chunk]).argmax(1) for i in range(0, x.shape[0], chunk)])


def neutral_pass(shared: tuple[torch.Tensor, torch.Tensor, torch.Tensor], y: torch.Tensor, label_columns: torch.Tensor, weights: list[torch.Tensor],
                 biases: list[torch.Tensor], readout: torch.Tensor, neutral_label: float, first_scored: int, bf16: tuple[bool, ...],
                 box: Box | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The neutral-label pass of an update, through layer 1's image product ``shared`` (:func:`ffrepro.ff.unlabelled_images`;
    ``label_columns``: layer 1's float32 weights (S, H, D), whose label columns it adds): the readout's logits
    (S, B, 10), the gradient of its cross-entropy (S, 10, F), averaged over the batch, and its loss summed
    over the batch (S,). ``weights``: as :func:`ffrepro.ff.upward` takes them."""
    x0 = shared[0]
    seeds, n, _ = x0.shape
    neutral = torch.full((seeds, n, NUM_CLASSES), neutral_label, device=x0.device, dtype=x0.dtype)
    states = upward(x0, labelled_first(shared[2], shared[1], neutral, label_columns, biases[0], x0.shape[-1])[0], weights, biases, bf16, box)
    feats = torch.cat([length_normalize(h) for _, _, h in states[first_scored:]], dim=-1)  # (S, B, F)
    logits = matmul(feats, readout.mT)
    log_p = torch.log_softmax(logits, -1)
    target = F.one_hot(y, NUM_CLASSES).to(x0.dtype)
    readout_grad = matmul(((log_p.exp() - target) / n).mT, feats)
    return logits, readout_grad, -(log_p * target).sum((1, 2))


def labelled_pass(shared: tuple[torch.Tensor, torch.Tensor, torch.Tensor], labels: list[torch.Tensor], n_pos: int, label_columns: torch.Tensor,
                  weights: list[torch.Tensor], biases: list[torch.Tensor], mean_activity: list[torch.Tensor], label_strength: float,
                  layers: tuple[Constants, ...], bf16: tuple[bool, ...], box: Box | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """:func:`ffrepro.ff.layer_grads` of the images with each of ``labels`` (S, B) written in (the true labels,
    wrong ones, or both, the first ``n_pos`` rows positive), through layer 1's shared image product."""
    x0 = shared[0]
    pixels = torch.cat([label_pixels(label, label_strength, x0.dtype) for label in labels], dim=1)  # (S, kB, 10)
    z1, scale = labelled_first(shared[2], shared[1], pixels, label_columns, biases[0], x0.shape[-1])
    return layer_grads(upward(x0, z1, weights, biases, bf16, box), n_pos, x0.shape[1], mean_activity, layers, bf16, (scale, pixels))


_compiled_shared = Compiled(unlabelled_images)
_compiled_neutral = Compiled(neutral_pass)
_compiled_labelled = Compiled(labelled_pass)


class StackedFFSupervised(StackedFF):
    """Supervised FF's update (:class:`FFSupervisedTrainer`) of one seed or several stacked (:class:`ffrepro.stacked.StackedFF`).

    Per minibatch, as in ffcode: where the labels are shown (not at night), a neutral-label pass trains
    the softmax readout, and its prediction gives the hard negatives; then the images with the true
    labels, the wrong ones, or both go through the net together and every layer takes the gradient of
    its own loss. Writing a label changes only the first 10 pixels and, through them, each row's length,
    so layer 1's product with the images is made once per update and shared by the neutral, positive and
    negative passes (:func:`ffrepro.ff.labelled_first`)."""

    def start_epoch(self) -> None:
        device = self.trainers[0].train_split.y.device
        self.readout_loss = torch.zeros(len(self.trainers), device=device)
        # hard negatives: how often each wrong label was drawn for each true label this epoch, (S, true, drawn)
        self.negatives = torch.zeros(len(self.trainers), NUM_CLASSES * NUM_CLASSES, dtype=torch.long, device=device)

    def end_epoch(self, seed_index: int) -> dict[str, Any]:
        t = self.trainers[seed_index]
        val = t.data.val.head(self.cfg.data.eval_examples)
        log = {"readout_loss": self.readout_loss[seed_index].item() / t.epoch_examples(), "val_error_softmax": error_rate(predict(t.net, val.x, "softmax"), val.y)}
        if self.cfg.model.negative_labels == "hard":  # what the net made of itself as a generator (the GAN page)
            log["negative_labels"] = self.negatives[seed_index].view(NUM_CLASSES, NUM_CLASSES).tolist()
        return log

    def _update(self, x: torch.Tensor, y: torch.Tensor, phase: str) -> tuple[list[list[torch.Tensor] | None], torch.Tensor]:
        """One update in ``phase``; the wrong labels are drawn between the passes, each seed's from its own
        generator, from the readout's prediction at that moment if hard. The passes are pure tensor
        functions, compiled with ``FFREPRO_COMPILE=1``."""
        model = self.cfg.model
        (weights, biases, readout), products = self.product, self.product_weights()
        shared = self.run_pass(_compiled_shared)(x, products[0], self.bf16[0])
        hard = model.negative_labels == "hard"
        readout_grads, logits = None, None
        if phase != "negative" or hard:
            logits, readout_grad, loss = self.run_pass(_compiled_neutral)(
                shared, y, weights[0], products, biases, readout[0], model.neutral_label, model.first_scored_layer, self.bf16, self.box)
            if phase != "negative":  # the readout learns where the labels are shown
                self.readout_loss += loss
                readout_grads = [readout_grad]
        labels = []
        if phase != "negative":
            labels.append(y)
        if phase != "positive":
            labels.append(torch.stack([wrong_labels(y[s], t.gen, logits[s] if hard else None) for s, t in enumerate(self.trainers)]))  # type: ignore[index]
            if hard:
                self.negatives.scatter_add_(1, y * NUM_CLASSES + labels[-1], torch.ones_like(y))
        n_pos = x.shape[1] if phase != "negative" else 0
        weight_grads, bias_grads, stats = self.run_pass(_compiled_labelled)(
            shared, labels, n_pos, weights[0], products, biases, self.mean_activity, model.label_strength, self.layer_constants, self.bf16, self.box)
        return [weight_grads, bias_grads, readout_grads], stats


class FFSupervisedTrainer(Trainer):
    """Trains an :class:`FFNet` with label-embedded positive and negative data."""

    def __init__(self, cfg: RunConfig, data: Dataset, generator: torch.Generator):
        assert isinstance(cfg.model, FFConfig)
        super().__init__(cfg, data, generator)
        self.net = FFNet(data.num_inputs, cfg.model).to(data.train.x.device)
        self.optimizer = ff_optimizer(self.net, cfg, with_readout=True)

    def train_epoch(self, epoch: int, progress: Any = None) -> dict[str, Any]:
        """One epoch of updates in the order of ``model.schedule`` (:meth:`Trainer.updates`): this seed as
        a stack of one (:class:`StackedFFSupervised`). The images are shifted first (``data.jitter``), so
        the label pixels never move."""
        return StackedFFSupervised([self]).train_epoch(epoch, progress)[0]

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
