"""Figures of the page on hybrid images, the negative data of unsupervised FF (paper section 3.2).

How a mask is made (:func:`hybrid_mask_figure`), the paper's Figure 1 (:func:`hybrid_figure`, also
shown by the chapter on unsupervised FF), and why noise makes poorer negative data than hybrids
(:func:`hybrid_statistics`, :func:`noise_versus_hybrid_figure`). Drawn from MNIST test images: no
results are needed. :func:`facts` gives every number the page states, read from the statistics, so
that the notebook only glues them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from ffrepro.book import Page
from ffrepro.data import MNIST_SIDE, Dataset
from ffrepro.figures import common
from ffrepro.unsupervised import blur, hybrid_images, hybrid_masks


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('hybrid-negatives', 'shows the negative data of unsupervised FF, hybrid images, and why random noise would make poor negative data (section 3.2, Figure 1).', 50),
)


def hybrid_mask_figure(blur_steps: int = 10, stages: Sequence[int] = (1, 3), side: int = MNIST_SIDE, seed: int = 0) -> Figure:
    """How a hybrid mask is made (paper section 3.2): random bits, the same bits after each number
    of blurs in ``stages`` and after ``blur_steps`` blurs, then the thresholded mask."""
    bits = torch.randint(0, 2, (1, side, side), generator=torch.Generator().manual_seed(seed)).float()  # (1, H, W)
    steps = [s for s in stages if 0 < s < blur_steps] + [blur_steps]
    panels = [("random bits", bits[0])]
    panels += [(f"blurred {s} time{'s' if s > 1 else ''}", blur(bits, s)[0]) for s in steps]
    panels.append((f"mask: {blur_steps} blurs > 0.5", (blur(bits, blur_steps)[0] > 0.5).float()))
    fig = Figure(figsize=(1.7 * len(panels), 2.0), layout="constrained")
    for ax, (title, image) in zip(fig.subplots(1, len(panels)), panels):
        common.gray_image(ax, image.numpy(), title, fontsize="small")
    return fig


def _hybrid_partners(y: torch.Tensor, n: int) -> list[int]:
    """For each of the first ``n`` labels, the index of a later image with a different label (each used once)."""
    used, partners = set(range(n)), []
    for i in range(n):
        j = next(j for j in range(n, len(y)) if j not in used and int(y[j]) != int(y[i]))
        used.add(j)
        partners.append(j)
    return partners


def hybrid_figure(dataset: Dataset, n: int = 4, blur_steps: int = 10, seed: int = 0) -> Figure:
    """The paper's Figure 1, regenerated: ``n`` rows of mask, digit A, digit B and their hybrid.

    Digit A is one of the first ``n`` test images, digit B a later test image of another class;
    hybrid = A x mask + B x (1 - mask) (:func:`ffrepro.unsupervised.hybrid_images`).
    """
    x, y = dataset.test.x.cpu(), dataset.test.y.cpu()  # (N, 784), (N,)
    side = int(round(x.shape[1] ** 0.5))
    b_idx = _hybrid_partners(y, n)
    a, b = x[:n], x[b_idx]  # (n, 784)
    masks = hybrid_masks(n, side, blur_steps, torch.Generator().manual_seed(seed))  # (n, side, side)
    hybrids = hybrid_images(a, b, masks)  # (n, 784)
    fig = Figure(figsize=(7.2, 1.9 * n), layout="constrained")
    axes = fig.subplots(n, 4, squeeze=False)
    for r in range(n):
        ya, yb = int(y[r]), int(y[b_idx[r]])
        row = [
            ("mask (white: A)", masks[r]),
            (f"digit A: {ya}", a[r].reshape(side, side)),
            (f"digit B: {yb}", b[r].reshape(side, side)),
            (f"hybrid of {ya} and {yb}", hybrids[r].reshape(side, side)),
        ]
        for ax, (title, image) in zip(axes[r], row):
            common.gray_image(ax, image.numpy(), title)
    return fig


def _pairs_at_distance(side: int, max_distance: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per distance d = 1..max_distance: flat indices (i, j) of all pixel pairs d apart along a row or a column."""
    grid = np.arange(side * side).reshape(side, side)
    pairs = []
    for d in range(1, max_distance + 1):
        i = np.concatenate([grid[:, :-d].ravel(), grid[:-d, :].ravel()])
        j = np.concatenate([grid[:, d:].ravel(), grid[d:, :].ravel()])
        pairs.append((i, j))
    return pairs


def _within_image_correlation(x: np.ndarray, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Autocorrelation of each image (centred on its own mean, averaged over positions), mean over
    images. x: (N, D) -> (len(pairs),)"""
    xc = x - x.mean(1, keepdims=True)  # (N, D)
    var = (xc**2).mean(1)  # (N,)
    return np.array([((xc[:, i] * xc[:, j]).mean(1) / var).mean() for i, j in pairs])


def _fixed_position_correlation(x: np.ndarray, pairs: Sequence[tuple[np.ndarray, np.ndarray]], min_std: float = 0.05) -> np.ndarray:
    """Root mean square, over pixel pairs d apart, of the correlation across images between the two
    pixels at those fixed positions; pixels that hardly vary (the blank border) are left out, and the
    1/N that sampling noise adds to a squared correlation is subtracted. x: (N, D) -> (len(pairs),)"""
    n = x.shape[0]
    xc = x - x.mean(0)  # (N, D)
    std = xc.std(0)  # (D,)
    corr = (xc.T @ xc) / n / np.outer(std, std).clip(min=1e-12)  # (D, D)
    varies = std > min_std
    out = []
    for i, j in pairs:
        keep = varies[i] & varies[j]
        out.append(np.sqrt(max(float((corr[i[keep], j[keep]] ** 2).mean()) - 1 / n, 0.0)))
    return np.array(out)


def hybrid_statistics(dataset: Dataset, n_images: int = 500, max_distance: int = 20, blur_steps: int = 10, seed: int = 0) -> pd.DataFrame:
    """Pixel correlations of real digits, shuffled-pixel noise and hybrids, against distance.

    The first ``n_images`` test digits; their pixels shuffled within each image (same ink, same
    histogram, no spatial structure); hybrids of each digit with the next one
    (:func:`ffrepro.unsupervised.hybrid_images`). Distance d is along rows and columns. Columns:
    ("within one image", kind): each image's own autocorrelation, averaged over positions and images;
    ("at fixed positions", kind): see :func:`_fixed_position_correlation`;
    ("mask", "same side"): fraction of pixel pairs on the same side of a hybrid's mask, i.e. taken
    from the same digit. Index: distance 1..max_distance.
    """
    gen = torch.Generator().manual_seed(seed)
    x = dataset.test.x[:n_images].cpu()  # (N, D)
    n, dim = x.shape
    side = int(round(dim**0.5))
    masks = hybrid_masks(n, side, blur_steps, gen)  # (N, side, side)
    images = {
        "digits": x,
        "shuffled": torch.stack([row[torch.randperm(dim, generator=gen)] for row in x]),
        "hybrids": hybrid_images(x, x.roll(-1, 0), masks),
    }
    pairs = _pairs_at_distance(side, max_distance)
    columns = {}
    for kind, imgs in images.items():
        columns[("within one image", kind)] = _within_image_correlation(imgs.double().numpy(), pairs)
    for kind, imgs in images.items():
        columns[("at fixed positions", kind)] = _fixed_position_correlation(imgs.double().numpy(), pairs)
    m = masks.reshape(n, dim).numpy()
    columns[("mask", "same side")] = np.array([(m[:, i] == m[:, j]).mean() for i, j in pairs])
    table = pd.DataFrame(columns, index=pd.Index(range(1, max_distance + 1), name="distance (pixels)"))
    table.columns.names = ["statistic", "images"]
    return table


_KIND_STYLE = {"digits": dict(color="k"), "hybrids": dict(color="C1"), "shuffled": dict(color="C0", ls="--")}


def noise_versus_hybrid_figure(dataset: Dataset, seed: int = 0, stats: pd.DataFrame | None = None, n_images: int = 500, blur_steps: int = 10) -> Figure:
    """Why noise is a poor negative and hybrids a good one (paper section 3.2).

    Top: a test digit, the same pixels shuffled, and a hybrid of that digit with the next one.
    Bottom (from :func:`hybrid_statistics`, computed if ``stats`` is not given): (a) each image's
    autocorrelation, averaged over positions; (b) the correlation between fixed pixel positions,
    across images; (c) hybrids' (b) relative to digits', beside the fraction of pixel pairs that lie on
    the same side of the mask.
    """
    stats = hybrid_statistics(dataset, n_images=n_images, blur_steps=blur_steps, seed=seed) if stats is None else stats
    x = dataset.test.x[:2].cpu()  # (2, 784)
    side = int(round(x.shape[1] ** 0.5))
    gen = torch.Generator().manual_seed(seed)
    shuffled = x[0][torch.randperm(x.shape[1], generator=gen)]
    hybrid = hybrid_images(x[:1], x[1:2], hybrid_masks(1, side, blur_steps, gen))[0]

    fig = Figure(figsize=(8.5, 6.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.5])
    examples = [("a test digit", x[0]), ("its pixels shuffled", shuffled), ("a hybrid with the next digit", hybrid)]
    for ax, (title, image) in zip(top.subplots(1, 3), examples):
        common.gray_image(ax, image.reshape(side, side).numpy(), title)

    ax_within, ax_fixed, ax_ratio = bottom.subplots(1, 3)
    distance = stats.index.to_numpy()
    for ax, statistic, title in (
        (ax_within, "within one image", "(a) within one image,\naveraged over positions"),
        (ax_fixed, "at fixed positions", "(b) between fixed positions,\nacross images (RMS over pairs)"),
    ):
        for kind in ("digits", "hybrids", "shuffled"):
            ax.plot(distance, stats[(statistic, kind)], marker="o", ms=3, label=kind, **_KIND_STYLE[kind])
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set(title=title, ylabel="correlation")
    ax_within.legend(fontsize="small")
    ratio = stats[("at fixed positions", "hybrids")] / stats[("at fixed positions", "digits")]
    ax_ratio.plot(distance, ratio, marker="o", ms=3, color="C1", label="hybrids ÷ digits, from (b)")
    ax_ratio.plot(distance, stats[("mask", "same side")], color="C2", ls=":", lw=2, label="pixel pairs from one digit")
    ax_ratio.set(title="(c) hybrids relative to digits", ylabel="ratio or fraction", ylim=(0, 1.05))
    ax_ratio.legend(fontsize="small", loc="lower left")
    for ax in (ax_within, ax_fixed, ax_ratio):
        ax.set_xlabel("distance (pixels)")
        ax.grid(alpha=0.3)
    return fig



DISTANCES = (1, 10)  # the pixel distances the page quotes
HALF = 0.52  # "about half": the share of same-side pairs the page treats as a coin toss


def facts(stats: pd.DataFrame, blur_steps: int, n_images: int) -> dict[str, Any]:
    """Every number the hybrid page states, from :func:`hybrid_statistics` (``stats``, over
    ``n_images`` test digits, masks blurred ``blur_steps`` times): ``blur-steps``, ``blur-sigma`` (the
    blur's width: each [1/4, 1/2, 1/4] pass adds a variance of 1/2), ``n-images``; at each distance of
    :data:`DISTANCES` the correlation within one image and at fixed positions of digits, hybrids and
    shuffled pixels (``within-KIND-D``, ``fixed-KIND-D``), hybrids' over digits' at fixed positions
    (``ratio-D``) and the share of mask pairs on the same side (``same-D``); and the first distance at
    which that share is below :data:`HALF` (``same-half-distance``)."""
    within, fixed, same = stats["within one image"], stats["at fixed positions"], stats[("mask", "same side")]
    out: dict[str, Any] = {"blur-steps": blur_steps, "blur-sigma": (blur_steps / 2) ** 0.5, "n-images": n_images}
    for d in DISTANCES:
        for kind in ("digits", "hybrids", "shuffled"):
            out[f"within-{kind}-{d}"] = float(within.loc[d, kind].round(2)) + 0.0  # + 0.0: no "-0.00"
            out[f"fixed-{kind}-{d}"] = float(fixed.loc[d, kind])
        out[f"ratio-{d}"] = float(fixed.loc[d, "hybrids"] / fixed.loc[d, "digits"])
        out[f"same-{d}"] = float(same.loc[d])
    out["same-half-distance"] = int(same.index[same < HALF][0])
    return out
