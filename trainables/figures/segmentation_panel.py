"""A seismic section, its ground-truth facies and the prediction side by side, with one categorical colormap and a
class legend. Reference report A's F3 facies segmentation examples.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from trainables.figures._common import new_figure, palette


def segmentation_panel(
    section: np.ndarray, truth: np.ndarray, prediction: np.ndarray, class_names: list[str], title: str
) -> Figure:
    """Seismic section (grayscale, colour limits symmetric about 0 at the 99th percentile of |amplitude|,
    so a few spikes do not wash the section out), ground-truth facies and predicted facies side by side.
    ``truth`` and ``prediction`` hold class indices 0..len(class_names)-1 and share one categorical
    colormap; a figure legend names the classes.
    """
    section, truth, prediction = np.asarray(section), np.asarray(truth), np.asarray(prediction)
    if section.ndim != 2 or truth.shape != section.shape or prediction.shape != section.shape:
        raise ValueError(
            f"section, truth and prediction must be 2-D arrays of one shape; got section "
            f"{section.shape}, truth {truth.shape}, prediction {prediction.shape}"
        )
    n_classes = len(class_names)
    if n_classes == 0:
        raise ValueError("class_names is empty")
    for name, labels in (("truth", truth), ("prediction", prediction)):
        if not np.issubdtype(labels.dtype, np.integer):
            if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
                raise ValueError(f"{name} must hold integer class indices")
        outside = np.unique(labels[(labels < 0) | (labels >= n_classes)])
        if outside.size:
            raise ValueError(
                f"{name} has class indices {outside[:10].tolist()} outside 0..{n_classes - 1} ({n_classes} class names)"
            )

    amplitude = float(np.nanpercentile(np.abs(section), 99)) if np.isfinite(section).any() else 0.0
    if not math.isfinite(amplitude) or amplitude == 0.0:
        amplitude = 1.0
    colours = palette(n_classes)
    class_cmap = ListedColormap(colours, name="facies")
    class_norm = BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)

    height, width = section.shape
    # Panels follow the section's aspect within bounds, so a long F3 inline (701 x 255) stays a page wide.
    panel_width = min(3.8, max(2.4, 3.0 * width / max(height, 1)))
    fig = new_figure((3 * panel_width + 1.2, 4.0))
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    image = axes[0].imshow(
        section, cmap="gray", vmin=-amplitude, vmax=amplitude, aspect="auto", interpolation="nearest"
    )
    fig.colorbar(image, ax=axes[0], label="amplitude", shrink=0.8)
    for ax, labels, panel_title in ((axes[1], truth, "ground truth"), (axes[2], prediction, "prediction")):
        ax.imshow(labels, cmap=class_cmap, norm=class_norm, aspect="auto", interpolation="nearest")
        ax.set_title(panel_title)
    axes[0].set_title("input section")
    for ax in axes:
        ax.set_xlabel("trace (index)")
    axes[0].set_ylabel("depth (sample)")
    fig.legend(
        handles=[Patch(facecolor=c, edgecolor="black", linewidth=0.5, label=n) for c, n in zip(colours, class_names)],
        loc="outside lower center",
        ncols=min(n_classes, 6),
        fontsize="small",
        title="facies",
    )
    fig.suptitle(title)
    return fig
