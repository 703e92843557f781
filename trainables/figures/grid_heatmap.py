"""A searched grid as a heatmap: a 2-D pivot (rows may be a MultiIndex, e.g. backbone x projector dim; columns e.g.
lambda), every cell annotated, empty cells grey, the best cell outlined. Reference report A, Table 5 (the Barlow
Twins grid); report C's epochs x batch size comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from trainables.figures._common import join_label, new_figure

BEST_CELL_GID = "best-cell"


def grid_heatmap(grid: pd.DataFrame, value_label: str, title: str, mode: str = "max") -> Figure:
    """A pivoted grid as a heatmap: every cell annotated to 3 decimals, NaN cells grey and blank, the best
    cell (``mode`` "max" or "min") outlined in black (the Rectangle has gid ``BEST_CELL_GID``).

    ``grid``: index = row settings (a MultiIndex is joined into "a / b" labels), columns = column settings,
    values numeric. Axis labels are the index / column names.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got '{mode}'")
    if grid.empty:
        raise ValueError("grid_heatmap: empty grid")
    values = grid.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    row_labels = [join_label(v) for v in grid.index]
    col_labels = [join_label(v) for v in grid.columns]

    fig = new_figure((max(4.5, 1.1 * n_cols + 3.0), max(3.0, 0.45 * n_rows + 1.8)))
    ax = fig.add_subplot()
    cmap = colormaps["viridis"].with_extremes(bad="lightgrey")  # a copy: the registered map stays as is
    masked = np.ma.masked_invalid(values)
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmin == vmax:  # one value: keep the colormap from dividing by zero
        vmin, vmax = vmin - 0.5, vmax + 0.5
    image = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label(value_label)

    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            if not np.isfinite(v):
                continue  # NaN: not run / pruned; left blank on grey rather than a misleading number
            # Dark text on the bright end of viridis, white on the dark end.
            luminance = np.dot(cmap((v - vmin) / (vmax - vmin))[:3], [0.299, 0.587, 0.114])
            ax.text(
                j,
                i,
                f"{v:.3f}",
                ha="center",
                va="center",
                fontsize="small",
                color="black" if luminance > 0.5 else "white",
            )
    if finite.size:
        flat = np.where(np.isfinite(values), values, -np.inf if mode == "max" else np.inf)
        best = int(np.argmax(flat) if mode == "max" else np.argmin(flat))  # ties: first in reading order
        bi, bj = divmod(best, n_cols)
        ax.add_patch(
            Rectangle(
                (bj - 0.5, bi - 0.5),
                1,
                1,
                fill=False,
                edgecolor="black",
                linewidth=3,
                gid=BEST_CELL_GID,
                label=f"best ({mode})",
                clip_on=False,
            )
        )

    ax.set_xticks(
        range(n_cols),
        col_labels,
        rotation=30 if max(map(len, col_labels)) > 6 else 0,
        ha="right" if max(map(len, col_labels)) > 6 else "center",
    )
    ax.set_yticks(range(n_rows), row_labels)
    ax.set_xlabel(join_label(tuple(n for n in grid.columns.names if n is not None)) or "setting")
    ax.set_ylabel(join_label(tuple(n for n in grid.index.names if n is not None)) or "setting")
    ax.set_title(title)
    return fig
