"""Report figures in the reference reports' shape, drawn from plain pandas DataFrames (no MLflow, no Ray).

The reading of MLflow runs into these frames lives elsewhere (``trainables.tracking.runs`` /
``trainables.report.tables``); every function here takes a small long-format frame and returns a
``matplotlib.figure.Figure``, and ``save_figure`` writes it as PNG (150 dpi) and SVG, byte-identical on
every save (no creation date, fixed SVG id salt) so regenerated reports diff cleanly.

- ``label_fraction_figure``: downstream metric (mIoU, accuracy, F1) against the fraction of labelled
  training data on a log axis ticked in percent, one line per series (e.g. LFR with K = 5/8/12/16 random
  projectors), pretrained solid, random initialisation dashed, supervised from scratch dotted, optional
  +/- std band. Reference report A: the LFR and SimCLR seismic mIoU-by-label-fraction figures (1, 5, 10,
  25, 50, 100 %), the BYOL pretrained-vs-random-init figure, and Table 4 (HAR, 1/50/100 % labels) as a plot.
- ``grid_heatmap``: a 2-D pivot of a searched grid (rows may be a MultiIndex, e.g. backbone x projector
  dim, columns e.g. lambda) with every cell annotated, empty cells grey, the best cell outlined.
  Reference report A, Table 5 (the Barlow Twins grid); report C's epochs x batch size comparison.
- ``training_curves``: one panel per metric key (``train/loss``, ``health/embedding_std``,
  ``health/rankme``, ...) against epoch, one line per run coloured by method, pruned runs faint.
  Reference report A's pretext loss curves, plus the collapse monitors of ``selfsup.evaluation``.
- ``tsne_figure`` / ``tsne_coordinates``: t-SNE of train / validation / test embeddings computed together,
  coloured by class, marker by split, test points as diamonds with bold black edges.
  Reference report A's HAR t-SNE figures.
- ``optuna_figures``: Optuna's optimisation history, parameter importances and parallel coordinates
  (``optuna.visualization.matplotlib``) for a study, without leaking pyplot figures or styles.
- ``segmentation_panel``: a seismic section, its ground-truth facies and the prediction side by side with
  one categorical colormap and a class legend. Reference report A's F3 facies segmentation examples.

Figures are built on ``matplotlib.figure.Figure`` with an Agg canvas attached, never through pyplot's
global figure manager, so nothing needs a display, calls never share state and nothing accumulates.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

PNG_DPI = 150
# Fixed salt for the ids matplotlib writes into SVGs (clip paths, glyphs): without it they are random per
# save and two saves of one figure differ.
SVG_HASH_SALT = "sslsweep-report"

KIND_STYLES = {"pretrained": "-", "random_init": "--", "supervised": ":"}
SPLIT_MARKERS = {"train": "o", "validation": "s", "test": "D"}
SPLIT_ALIASES = {"val": "validation", "valid": "validation"}  # metric names say "val" (metric_names.SPLITS)
TEST_EDGE_WIDTH = 1.5
PRUNED_ALPHA, PRUNED_LINEWIDTH = 0.3, 0.8
FINISHED_ALPHA, FINISHED_LINEWIDTH = 1.0, 1.8
BEST_CELL_GID = "best-cell"

# Y labels with units or meaning for the metric keys the sweep logs (metric_names); others get the key.
CURVE_YLABELS = {
    "train/loss": "pretext loss",
    "health/embedding_std": "embedding std x sqrt(D)",
    "health/rankme": "RankMe (effective rank)",
}
_FEATURE_COLUMN = re.compile(r"^f(\d+)$")


# ----------------------------------------------------------------------------------------------- helpers


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    # An explicit Agg canvas: drawing/text extents work without pyplot and without a display.
    FigureCanvasAgg(fig)
    return fig


def _sorted_unique(values: Sequence[Any] | pd.Series) -> list[Any]:
    unique = list(pd.unique(pd.Series(values)))
    numbers = pd.to_numeric(pd.Series(unique, dtype="object"), errors="coerce")
    if len(unique) and numbers.notna().all():  # class labels "1".."10" (UCR files): 2 before 10, not after
        return [value for _, value in sorted(zip(numbers, unique), key=lambda pair: pair[0])]
    try:
        return sorted(unique)
    except TypeError:  # mixed types (e.g. ints and strings): order by text, still deterministic
        return sorted(unique, key=str)


def _palette(n: int) -> list[tuple[float, float, float, float]]:
    """n distinct colours: tab10, tab20 beyond 10, an evenly sampled colormap beyond 20."""
    if n <= 10:
        return [to_rgba(c) for c in colormaps["tab10"].colors[:n]]
    if n <= 20:
        return [to_rgba(c) for c in colormaps["tab20"].colors[:n]]
    cmap = colormaps["turbo"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def _colours_for(keys: Sequence[Any]) -> dict[Any, tuple[float, float, float, float]]:
    """Colour per key in sorted order, so the same series gets the same colour in every figure of a report
    that shows the same set of series, whatever order the rows came in."""
    ordered = _sorted_unique(keys)
    return dict(zip(ordered, _palette(len(ordered))))


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(columns)}; missing {missing} (has {list(frame.columns)})")


def _percent(fraction: float) -> str:
    # 0.1 * 100 is 10.000000000000002: round before the shortest form.
    return f"{round(fraction * 100, 6):g} %"


def _join_label(value: Any) -> str:
    if isinstance(value, tuple):
        return " / ".join(str(v) for v in value)
    return str(value)


# ----------------------------------------------------------------------------------------------- saving


def save_figure(fig: Figure, directory: str | Path, name: str) -> list[Path]:
    """Write ``name.png`` (150 dpi) and ``name.svg`` into ``directory`` (created), return both paths.

    Deterministic: the PNG carries no Software entry and the SVG no Date (matplotlib writes the current
    time there by default), and the SVG ids use a fixed salt, so saving the same figure twice gives
    byte-identical files and re-generated reports only differ where the data did.
    """
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"figure name '{name}' must be a plain file name without directories")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    png, svg = directory / f"{name}.png", directory / f"{name}.svg"
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT}):
        fig.savefig(png, format="png", dpi=PNG_DPI, bbox_inches="tight", metadata={"Software": None})
        fig.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
    return [png, svg]


# ---------------------------------------------------------------------------------- 1. label fractions


def label_fraction_figure(scores: pd.DataFrame, metric_label: str, title: str) -> Figure:
    """Metric against label fraction, one line per ``series``.

    ``scores`` columns: ``series`` (line label, e.g. "lfr K=12", "random init", "supervised"),
    ``fraction`` in (0, 1], ``value``; optional ``std`` (drawn as a +/- band), ``kind`` in
    {"pretrained", "random_init", "supervised"} (solid / dashed / dotted; missing means pretrained) and
    ``group`` (series of one group share a colour, e.g. "K=12" pretrained and random init; default: the
    series itself). The x axis is logarithmic and ticked at the fractions present, labelled in percent.
    """
    _require_columns(scores, ["series", "fraction", "value"], "label_fraction_figure")
    if scores.empty:
        raise ValueError("label_fraction_figure: no scores to plot")
    frame = scores.copy()
    frame["fraction"] = pd.to_numeric(frame["fraction"], errors="raise").astype(float)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    bad = frame.loc[~((frame["fraction"] > 0) & (frame["fraction"] <= 1)), "fraction"]
    if not bad.empty:
        raise ValueError(f"label fractions must be in (0, 1]; got {sorted(set(bad.tolist()))}")
    if "kind" not in frame.columns:
        frame["kind"] = "pretrained"
    frame["kind"] = frame["kind"].fillna("pretrained")
    unknown = sorted(set(frame["kind"]) - set(KIND_STYLES))
    if unknown:
        raise ValueError(f"unknown kind {unknown}; known: {', '.join(KIND_STYLES)}")
    if "group" not in frame.columns:
        frame["group"] = frame["series"]
    frame["group"] = frame["group"].fillna(frame["series"])
    colours = _colours_for(frame["group"])

    fig = _new_figure((6.4, 4.2))
    ax = fig.add_subplot()
    # Lines in a stable order: pretrained, then random init, then supervised; by series name within.
    kind_rank = {k: i for i, k in enumerate(KIND_STYLES)}
    order = sorted(
        frame.groupby("series", sort=False).groups,
        key=lambda s: (kind_rank[frame.loc[frame["series"] == s, "kind"].iloc[0]], str(s)),
    )
    for series in order:
        rows = frame[frame["series"] == series].sort_values("fraction")
        kinds = set(rows["kind"])
        if len(kinds) > 1:
            raise ValueError(f"series '{series}' mixes kinds {sorted(kinds)}; one kind per line")
        kind = kinds.pop()
        colour = colours[rows["group"].iloc[0]]
        ax.plot(
            rows["fraction"],
            rows["value"],
            linestyle=KIND_STYLES[kind],
            marker="o",
            markersize=4,
            color=colour,
            linewidth=1.8,
            label=str(series),
        )
        if "std" in rows.columns and rows["std"].notna().any():
            std = pd.to_numeric(rows["std"], errors="coerce").fillna(0.0).to_numpy(float)
            # A band, not error bars: it keeps ax.lines one per series and reads better on a log axis.
            ax.fill_between(
                rows["fraction"].to_numpy(float),
                rows["value"].to_numpy(float) - std,
                rows["value"].to_numpy(float) + std,
                color=colour,
                alpha=0.15,
                linewidth=0,
            )

    fractions = sorted(set(frame["fraction"].tolist()))
    ax.set_xscale("log")
    # Ticks exactly at the evaluated fractions (1, 5, 10, 25, 50, 100 % in the reference), no minor
    # ticks: log-axis default labels (10^-2) are unreadable for a label-fraction axis.
    ax.xaxis.set_major_locator(FixedLocator(fractions))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: _percent(x)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if len(fractions) == 1:
        ax.set_xlim(fractions[0] / 1.5, min(fractions[0] * 1.5, 1.5))
    ax.set_xlabel("labelled training data (% of labels, log scale)")
    ax.set_ylabel(metric_label)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    if len(order) > 1:
        ax.legend(loc="best", fontsize="small")
    return fig


# -------------------------------------------------------------------------------------- 2. grid heatmap


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
    row_labels = [_join_label(v) for v in grid.index]
    col_labels = [_join_label(v) for v in grid.columns]

    fig = _new_figure((max(4.5, 1.1 * n_cols + 3.0), max(3.0, 0.45 * n_rows + 1.8)))
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
    ax.set_xlabel(_join_label(tuple(n for n in grid.columns.names if n is not None)) or "setting")
    ax.set_ylabel(_join_label(tuple(n for n in grid.index.names if n is not None)) or "setting")
    ax.set_title(title)
    return fig


# ----------------------------------------------------------------------------------- 3. training curves


def _key_order(key: str) -> tuple[int, str]:
    # Loss first, other loss terms, then the collapse monitors, then anything else: panels in the
    # order one reads a training run.
    if key == "train/loss":
        return (0, key)
    if key.startswith("train/"):
        return (1, key)
    if key in CURVE_YLABELS:
        return (2, key)
    return (3, key)


def training_curves(history: pd.DataFrame, title: str) -> Figure:
    """One panel per metric ``key`` against epoch (shared x), one line per ``run`` coloured by ``group``.

    ``history`` columns: ``run``, ``group`` (e.g. method), ``key`` (e.g. ``train/loss``,
    ``health/embedding_std``, ``health/rankme``), ``step`` (epoch), ``value``, optional ``pruned`` (bool):
    pruned runs are faint and thin (alpha ``PRUNED_ALPHA``), finished ones solid. Each line's label is its
    run; the legend lists groups (and "pruned" when there are any).
    """
    _require_columns(history, ["run", "group", "key", "step", "value"], "training_curves")
    if history.empty:
        raise ValueError("training_curves: empty history")
    frame = history.copy()
    frame["pruned"] = frame["pruned"].fillna(False).astype(bool) if "pruned" in frame.columns else False
    frame["step"] = pd.to_numeric(frame["step"], errors="raise")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    keys = sorted(pd.unique(frame["key"]), key=_key_order)
    colours = _colours_for(frame["group"])

    fig = _new_figure((7.0, 2.3 * len(keys) + 0.8))
    axes = fig.subplots(len(keys), 1, sharex=True, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys):
        rows = frame[frame["key"] == key]
        # Pruned runs first so finished ones are drawn on top of them.
        runs = sorted(
            rows.groupby("run", sort=False).groups,
            key=lambda r: (not rows.loc[rows["run"] == r, "pruned"].any(), str(r)),
        )
        for run in runs:
            line = rows[rows["run"] == run].dropna(subset=["value"]).sort_values("step")
            pruned = bool(line["pruned"].any())
            ax.plot(
                line["step"],
                line["value"],
                color=colours[line["group"].iloc[0]] if len(line) else "grey",
                alpha=PRUNED_ALPHA if pruned else FINISHED_ALPHA,
                linewidth=PRUNED_LINEWIDTH if pruned else FINISHED_LINEWIDTH,
                label=str(run),
                gid="pruned" if pruned else "finished",
            )
        ax.set_title(key, fontsize="medium")
        ax.set_ylabel(CURVE_YLABELS.get(key, key))
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("epoch")
    fig.suptitle(title)

    n_runs = frame["run"].nunique()
    if n_runs > 1 or len(colours) > 1:
        # Legend of groups, not runs: dozens of trial names would hide the curves.
        handles = [Line2D([], [], color=c, linewidth=FINISHED_LINEWIDTH, label=str(g)) for g, c in colours.items()]
        if frame["pruned"].any():
            handles.append(Line2D([], [], color="grey", alpha=PRUNED_ALPHA, linewidth=PRUNED_LINEWIDTH, label="pruned"))
        axes[0].legend(handles=handles, loc="best", fontsize="small")
    return fig


# ---------------------------------------------------------------------------------------------- 4. t-SNE


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


def tsne_coordinates(embeddings: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """2-D t-SNE of all rows together (train, validation and test share one map, so their positions
    compare), deterministic for ``seed``.

    Input: ``split`` in {train, validation (or val), test}, ``label``, and feature columns ``f0..f{d-1}``
    (this is the one format read; an ``embedding`` column of arrays must be expanded first). Returns one
    row per input row, same index, with every non-feature column kept (split normalised to
    train/validation/test) and the coordinates in ``tsne_x``, ``tsne_y``.
    """
    _require_columns(embeddings, ["split", "label"], "tsne_coordinates")
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
    classes = _sorted_unique(coords["label"])
    colours = _colours_for(classes)

    fig = _new_figure((7.2, 5.4))
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


# --------------------------------------------------------------------------------------------- 5. Optuna


def _detach_pyplot_figure(fig: Figure) -> Figure:
    """Remove a figure made by pyplot from pyplot's manager (no accumulation across calls) and give it an
    Agg canvas of its own, so it saves like the others whatever pyplot's backend is."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    FigureCanvasAgg(fig)
    return fig


def optuna_figures(study: Any, target_name: str | None = None) -> dict[str, Figure]:
    """Optuna's own plots of ``study``: ``optimization_history``, ``param_importances`` (only with >= 2
    completed trials, >= 1 parameter and the objective varying across them; fANOVA with a fixed seed, so the
    figure is reproducible) and ``parallel_coordinate`` (with >= 2 completed trials that have parameters:
    one trial's single line shows nothing and makes Optuna warn about singular axis limits).

    ``target_name`` labels the objective axis (e.g. the sweep's objective metric name); default: the
    study's metric name if it set one, else Optuna's "Objective Value". Multi-objective studies are
    plotted on their first objective.
    """
    import matplotlib.pyplot as plt
    import optuna
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization import matplotlib as ovm

    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    names = getattr(study, "metric_names", None)
    kwargs: dict[str, Any] = {}
    if len(study.directions) > 1:
        kwargs["target"] = lambda t: t.values[0]
    if target_name or names:
        kwargs["target_name"] = target_name or names[0]
    elif len(study.directions) > 1:
        kwargs["target_name"] = "objective 0"
    varied = [
        name
        for name in sorted({p for t in completed for p in t.params})
        if len({repr(t.params.get(name)) for t in completed}) > 1
    ]

    figures: dict[str, Figure] = {}
    # Optuna's matplotlib plots call plt.style.use("ggplot"), which rewrites the global rcParams: the
    # rc_context puts them back. Its ExperimentalWarning is expected here and silenced here only.
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        # A parameter every completed trial shares (a categorical TPE kept to one value) is a flat axis; matplotlib
        # widens it and says so, which is noise in a report.
        warnings.filterwarnings("ignore", message="Attempting to set identical low and high ylims")
        before = set(plt.get_fignums())
        try:
            figures["optimization_history"] = _detach_pyplot_figure(
                ovm.plot_optimization_history(study, **kwargs).figure
            )
            if len(completed) >= 2 and varied:
                try:
                    figures["param_importances"] = _detach_pyplot_figure(
                        ovm.plot_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0), **kwargs).figure
                    )
                except RuntimeError as error:  # fANOVA: "zero total variance", every trial scored (about) the same
                    if "variance" not in str(error):
                        raise
            if sum(bool(t.params) for t in completed) >= 2:
                figures["parallel_coordinate"] = _detach_pyplot_figure(
                    ovm.plot_parallel_coordinate(study, **kwargs).figure
                )
        finally:
            # Anything else a failed plot left open in pyplot (and only that) is closed too.
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
    return figures


# ------------------------------------------------------------------------------------- 6. segmentation


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
    colours = _palette(n_classes)
    class_cmap = ListedColormap(colours, name="facies")
    class_norm = BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)

    height, width = section.shape
    # Panels follow the section's aspect within bounds, so a long F3 inline (701 x 255) stays a page wide.
    panel_width = min(3.8, max(2.4, 3.0 * width / max(height, 1)))
    fig = _new_figure((3 * panel_width + 1.2, 4.0))
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
