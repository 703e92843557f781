"""Reference Table 5 (the Barlow Twins grid): one sweep's validation objective pivoted over chosen searched
dimensions, the best cell marked."""

from __future__ import annotations

import pandas as pd

from trainables.records.results import Outcome
from trainables.report.tables._selection import check_selects_on_validation
from trainables.report.tables._table import SCORE_DECIMALS, Table, make_table, parameter_label, parameter_values
from trainables.tracking.runs import ReportError, SweepRuns


def search_grid(sweep: SweepRuns, rows: list[str], columns: list[str]) -> Table:
    """Reference Table 5: one sweep's validation objective over chosen searched dimensions (``rows`` as the row
    index, ``columns`` across), each cell the mean over its finished runs (trials and repeats), the best cell
    in bold."""
    check_selects_on_validation(sweep)
    runs = pd.concat([sweep.trials, sweep.repeats])
    runs = runs[runs["outcome"] == Outcome.FINISHED]
    dimensions = list(rows) + list(columns)
    missing = [d for d in dimensions if f"params.{d}" not in runs]
    if missing or not rows or not columns or len(set(dimensions)) < len(dimensions):
        raise ReportError(
            f"sweep '{sweep.name}': search grid rows {rows} x columns {columns} needs distinct "
            f"recorded parameters{f' (not recorded: {missing})' if missing else ''}; searched: "
            f"{', '.join(sweep.searched) or 'none'}"
        )
    if sweep.objective_column not in runs:
        raise ReportError(f"sweep '{sweep.name}': no finished run recorded its objective {sweep.objective}")
    values = pd.DataFrame({d: parameter_values(runs[f"params.{d}"]) for d in dimensions})
    values["objective"] = pd.to_numeric(runs[sweep.objective_column], errors="coerce")
    grouped = values.groupby(dimensions, sort=True, dropna=False)["objective"]

    def pivot(statistic: str) -> pd.DataFrame:
        table = grouped.agg(statistic)
        return table.unstack(columns) if len(rows) else table

    mean, spread, counts = pivot("mean"), pivot("std"), pivot("count").fillna(0).astype(int)
    labels = [
        ", ".join(f"{d}={parameter_label(v)}" for d, v in zip(columns, key if isinstance(key, tuple) else (key,)))
        for key in mean.columns
    ]
    index = pd.MultiIndex.from_tuples(
        [tuple(parameter_label(v) for v in (key if isinstance(key, tuple) else (key,))) for key in mean.index],
        names=rows,
    )
    for frame in (mean, spread, counts):
        frame.columns, frame.index = labels, index
    shown = mean.round(SCORE_DECIMALS)
    target = shown.max().max() if sweep.mode == "max" else shown.min().min()
    caption = (
        f"{sweep.name}: validation {sweep.objective} ({'higher' if sweep.mode == 'max' else 'lower'} is "
        f"better) of the finished runs by {' x '.join(rows)} (rows) and {' x '.join(columns)} (columns); "
        f"mean over the runs in a cell where several; empty: not tried. Best cell in bold."
    )
    table = make_table("search_grid", caption, mean, counts, spread, {})
    table.best = shown.eq(target)[table.frame.columns]
    return table
