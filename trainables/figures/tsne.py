"""t-SNE of train / validation / test embeddings computed together (``tsne_coordinates``) and drawn coloured by
class, marker by split, test points as diamonds with bold black edges (``tsne_figure``). Reference report A's HAR
t-SNE figures.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

from trainables.figures._common import colours_for, new_figure, require_columns, sorted_unique

SPLIT_MARKERS = {"train": "o", "validation": "s", "test": "D"}
SPLIT_ALIASES = {"val": "validation", "valid": "validation"}  # metric names say "val" (metric_names.SPLITS)
TEST_EDGE_WIDTH = 1.5
_FEATURE_COLUMN = re.compile(r"^f(\d+)$")


def _feature_columns(embeddings: pd.DataFrame) -> list[str]:
    numbered = sorted(
        ((int(m.group(1)), c) for c in embeddings.columns if isinstance(c, str) and (m := _FEATURE_COLUMN.match(c)))
    )
    if not numbered:
        hint = (
            " (an 'embedding' column of arrays is not read: expand it with "
            "pd.DataFrame(np.stack(df['embedding']), index=df.index).add_prefix('f'))"
            if "embedding" in embeddings.columns
            else ""
        )
        raise ValueError(f"embeddings need feature columns f0..f{{d-1}}{hint}; has {list(embeddings.columns)}")
    indices = [i for i, _ in numbered]
    if indices != list(range(len(indices))):
        raise ValueError(
            f"feature columns must be f0..f{len(indices) - 1} without gaps; got {[c for _, c in numbered]}"
        )
    return [c for _, c in numbered]


def _normalised_splits(split: pd.Series) -> pd.Series:
    normalised = split.astype(str).str.lower().replace(SPLIT_ALIASES)
    unknown = sorted(set(normalised) - set(SPLIT_MARKERS))
    if unknown:
        raise ValueError(f"unknown split {unknown}; known: {', '.join(SPLIT_MARKERS)} (or 'val')")
    return normalised


def subsample_splits(embeddings: pd.DataFrame, per_split: int, seed: int = 0) -> pd.DataFrame:
    """At most ``per_split`` rows of each split, drawn with a fixed seed, in their original order: t-SNE's time
    grows faster than linearly with the rows."""
    rng = np.random.default_rng(seed)
    keep = []
    for _, rows in embeddings.groupby("split", sort=True):
        index = rows.index.to_numpy()
        keep.extend(index if len(index) <= per_split else rng.choice(index, per_split, replace=False))
    return embeddings.loc[sorted(keep)]


def tsne_coordinates(embeddings: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """2-D t-SNE of all rows together (train, validation and test share one map, so their positions
    compare), deterministic for ``seed``.

    Input: ``split`` in {train, validation (or val), test}, ``label``, and feature columns ``f0..f{d-1}``
    (this is the one format read; an ``embedding`` column of arrays must be expanded first). Returns one
    row per input row, same index, with every non-feature column kept (split normalised to
    train/validation/test) and the coordinates in ``tsne_x``, ``tsne_y``.
    """
    require_columns(embeddings, ["split", "label"], "tsne_coordinates")
    features = _feature_columns(embeddings)
    n = len(embeddings)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 embeddings, got {n}")
    from sklearn.manifold import TSNE  # sklearn import is slow; only the t-SNE figure needs it

    splits = _normalised_splits(embeddings["split"])  # before the fit: a typo should not cost a t-SNE
    x = embeddings[features].to_numpy(dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinite values")
    # perplexity must stay below n; (n - 1) / 3 is the usual bound for small sets (24 HAR test windows).
    tsne = TSNE(n_components=2, random_state=seed, init="pca", perplexity=min(30.0, (n - 1) / 3))
    coords = tsne.fit_transform(x)
    out = embeddings.drop(columns=features).copy()
    out["split"] = splits
    out["tsne_x"], out["tsne_y"] = coords[:, 0], coords[:, 1]
    return out


def tsne_figure(embeddings: pd.DataFrame, title: str, seed: int = 0) -> Figure:
    """t-SNE scatter (see ``tsne_coordinates`` for the input): colour = class, marker = split (train
    circles, validation squares, test diamonds with bold black edges drawn on top, as in the reference
    report). One PathCollection per split, labelled with the split; two legends, classes and splits.
    """
    coords = tsne_coordinates(embeddings, seed)
    classes = sorted_unique(coords["label"])
    colours = colours_for(classes)

    fig = new_figure((7.2, 5.4))
    ax = fig.add_subplot()
    for zorder, (split, marker) in enumerate(SPLIT_MARKERS.items(), start=2):
        rows = coords[coords["split"] == split]
        if rows.empty:
            continue
        is_test = split == "test"
        ax.scatter(
            rows["tsne_x"],
            rows["tsne_y"],
            c=[colours[v] for v in rows["label"]],
            marker=marker,
            s=46 if is_test else 22,
            alpha=1.0 if is_test else 0.75,
            edgecolors="black" if is_test else "none",
            linewidths=TEST_EDGE_WIDTH if is_test else 0.0,
            label=split,
            gid=split,
            zorder=zorder,
        )
    ax.set_xlabel("t-SNE dimension 1 (arbitrary units)")
    ax.set_ylabel("t-SNE dimension 2 (arbitrary units)")
    ax.set_title(title)

    class_handles = [
        Line2D([], [], linestyle="none", marker="o", markersize=7, color=colours[c], label=str(c)) for c in classes
    ]
    class_legend = Legend(
        ax,
        class_handles,
        [h.get_label() for h in class_handles],
        title="class",
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize="small",
    )
    ax.add_artist(class_legend)
    present = [s for s in SPLIT_MARKERS if (coords["split"] == s).any()]
    split_handles = [
        Line2D(
            [],
            [],
            linestyle="none",
            marker=SPLIT_MARKERS[s],
            markersize=7,
            markerfacecolor="lightgrey",
            markeredgecolor="black" if s == "test" else "grey",
            markeredgewidth=TEST_EDGE_WIDTH if s == "test" else 0.5,
            label=s,
        )
        for s in present
    ]
    ax.legend(handles=split_handles, title="split", loc="lower left", bbox_to_anchor=(1.02, 0.0), fontsize="small")
    return fig
