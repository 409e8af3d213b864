"""Figures of the chapter on supervised FF on MNIST (paper section 3.3).

The chapter's own figure is how a label enters the image (:func:`label_embedding_figure`). Its
learning curves and goodness histograms are drawn as in other chapters, by
:func:`ffrepro.figures.common.learning_curves` and :func:`ffrepro.figures.common.goodness_histograms`.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ffrepro.config import FFConfig
from ffrepro.data import Dataset
from ffrepro.ff import NUM_CLASSES, embed_label, wrong_labels


def label_embedding_figure(dataset: Dataset, n: int = 4, cfg: FFConfig | None = None, seed: int = 0) -> Figure:
    """The first ``n`` test images with a positive (true), a negative (wrong) and the neutral label.

    The label occupies the first 10 pixels (the left of the top row), outlined in each image and
    shown enlarged below it.
    """
    cfg = cfg or FFConfig()
    x, y = dataset.test.x[:n].cpu(), dataset.test.y[:n].cpu()  # (n, 784), (n,)
    neg = wrong_labels(y, torch.Generator().manual_seed(seed))
    rows = [
        ("positive", embed_label(x, y, cfg.label_strength, cfg.neutral_label), y),
        ("negative", embed_label(x, neg, cfg.label_strength, cfg.neutral_label), neg),
        ("neutral", embed_label(x, None, cfg.label_strength, cfg.neutral_label), None),
    ]
    fig = Figure(figsize=(1.9 * n, 2.3 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (kind, images, labels) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c].reshape(28, 28).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.add_patch(Rectangle((-0.5, -0.5), NUM_CLASSES, 1, fill=False, ec="C1", lw=1.2))
            label = "0.1 each" if labels is None else f"label {int(labels[c])}"
            ax.set_title(f"{kind}: digit {int(y[c])}\n{label}", fontsize="small")
            ax.set_xticks([])
            ax.set_yticks([])
            strip = ax.inset_axes((0.0, -0.15, 1.0, 0.1))  # the 10 label pixels, enlarged
            strip.imshow(images[c, :NUM_CLASSES].reshape(1, NUM_CLASSES).numpy(), cmap="gray", vmin=0, vmax=1, aspect="auto")
            strip.set_xticks(range(NUM_CLASSES), [str(k) for k in range(NUM_CLASSES)], fontsize=6)
            strip.tick_params(length=0, pad=1)
            strip.set_yticks([])
            for spine in strip.spines.values():
                spine.set_color("C1")
    return fig

