"""A downstream metric (mIoU, accuracy, F1) against the fraction of labelled training data: one line per series.

Log axis ticked in percent at the fractions present, pretrained solid, random initialisation dashed, supervised from
scratch dotted, optional +/- std band; one colour per backbone where the frame names them, so a pretrained line and
its own baselines read as one family. The legend sits outside the axes, right of them, so it never hides a line.
Reference report A: the LFR and SimCLR seismic mIoU-by-label-fraction figures (1, 5, 10, 25, 50, 100 %), the BYOL
pretrained-vs-random-init figure, and Table 4 (HAR, 1/50/100 % labels) as a plot.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from trainables.figures._common import colours_for, new_figure, percent, require_columns

KIND_STYLES = {"pretrained": "-", "random_init": "--", "supervised": ":"}
# Lines of one colour and one style (two techniques on one backbone) differ by marker, in this order.
SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
FIGURE_WIDTH, LEGEND_FIGURE_WIDTH, FIGURE_HEIGHT = 6.4, 9.0, 4.2  # inches


def label_fraction_figure(scores: pd.DataFrame, metric_label: str, title: str) -> Figure:
    """Metric against label fraction, one line per ``series``.

    ``scores`` columns: ``series`` (line label, e.g. "lfr K=12", "random init", "supervised"),
    ``fraction`` in (0, 1], ``value``; optional ``std`` (drawn as a +/- band), ``kind`` in
    {"pretrained", "random_init", "supervised"} (solid / dashed / dotted; missing means pretrained),
    ``backbone`` (series of one backbone share a colour: a technique's pretrained line, the backbone untrained
    and trained supervised; lines that would then look alike differ by marker) and otherwise ``group`` (series
    of one group share a colour, e.g. "K=12" pretrained and random init; default: the series itself). The x
    axis is logarithmic and ticked at the fractions present, labelled in percent; the legend (a figure legend,
    ``fig.legends``, where there are several lines) is right of the axes.
    """
    require_columns(scores, ["series", "fraction", "value"], "label_fraction_figure")
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
    if "backbone" in frame.columns:
        frame["group"] = frame["backbone"].fillna(frame["group"])
    colours = colours_for(frame["group"])

    # Lines in a stable order: pretrained, then random init, then supervised; by series name within.
    kind_rank = {k: i for i, k in enumerate(KIND_STYLES)}
    order = sorted(
        frame.groupby("series", sort=False).groups,
        key=lambda s: (kind_rank[frame.loc[frame["series"] == s, "kind"].iloc[0]], str(s)),
    )
    # Wider with a legend beside the axes, so the plot keeps its width.
    fig = new_figure((LEGEND_FIGURE_WIDTH if len(order) > 1 else FIGURE_WIDTH, FIGURE_HEIGHT))
    ax = fig.add_subplot()
    alike: dict[tuple, int] = {}  # (colour, kind) -> lines drawn so far: the next one's marker
    for series in order:
        rows = frame[frame["series"] == series].sort_values("fraction")
        kinds = set(rows["kind"])
        if len(kinds) > 1:
            raise ValueError(f"series '{series}' mixes kinds {sorted(kinds)}; one kind per line")
        kind = kinds.pop()
        colour = colours[rows["group"].iloc[0]]
        drawn = alike.get((colour, kind), 0)
        alike[(colour, kind)] = drawn + 1
        ax.plot(
            rows["fraction"],
            rows["value"],
            linestyle=KIND_STYLES[kind],
            marker=SERIES_MARKERS[drawn % len(SERIES_MARKERS)],
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
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: percent(x)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if len(fractions) == 1:
        ax.set_xlim(fractions[0] / 1.5, min(fractions[0] * 1.5, 1.5))
    ax.set_xlabel("labelled training data (% of labels, log scale)")
    ax.set_ylabel(metric_label)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    if len(order) > 1:
        # Outside the axes: inside, "best" still covers a line where the lines fill the plot. A figure legend
        # "outside" is one constrained layout places in one pass, so every save of the figure is the same.
        fig.legend(loc="outside right upper", fontsize="small")
    return fig
