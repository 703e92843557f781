"""Training curves: one panel per metric key (``train/loss``, ``health/embedding_std``, ``health/rankme``, ...)
against epoch, one line per run coloured by method, pruned runs faint. Reference report A's pretext loss curves,
plus the collapse monitors of ``selfsup.evaluation``.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from trainables.figures._common import colours_for, new_figure, require_columns

PRUNED_ALPHA, PRUNED_LINEWIDTH = 0.3, 0.8
FINISHED_ALPHA, FINISHED_LINEWIDTH = 1.0, 1.8
# Y labels with units or meaning for the metric keys the sweep logs (metric_names); others get the key.
CURVE_YLABELS = {
    "train/loss": "pretext loss",
    "health/embedding_std": "embedding std x sqrt(D)",
    "health/rankme": "RankMe (effective rank)",
}


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
    require_columns(history, ["run", "group", "key", "step", "value"], "training_curves")
    if history.empty:
        raise ValueError("training_curves: empty history")
    frame = history.copy()
    frame["pruned"] = frame["pruned"].fillna(False).astype(bool) if "pruned" in frame.columns else False
    frame["step"] = pd.to_numeric(frame["step"], errors="raise")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    keys = sorted(pd.unique(frame["key"]), key=_key_order)
    colours = colours_for(frame["group"])

    fig = new_figure((7.0, 2.3 * len(keys) + 0.8))
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
