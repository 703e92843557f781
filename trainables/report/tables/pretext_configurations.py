"""One sweep's pretext configurations tried: each finished search trial's searched values, final training loss and
validation score."""

from __future__ import annotations

import pandas as pd

from selfsup.evaluation.metric_names import eval_metric_name, parse_eval_metric_name
from trainables.records.results import Outcome
from trainables.report.tables._selection import (
    HEADLINE_METRICS,
    fractions,
    report_protocol,
    report_task,
    selection_note,
)
from trainables.report.tables._table import Table, parameter_label, parameter_values, summary, table_from_cells
from trainables.tracking.runs import SweepRuns


def pretext_configurations(sweep: SweepRuns) -> Table:
    """Every finished search trial in creation order: its searched hyperparameters (row labels), final
    ``train/loss`` and validation score (the objective; for a train/... or health/... objective, the report
    protocol's headline metric at the largest validation fraction). Bold: the best validation score, on which
    the trials compete; never a loss, which differs in scale with what the search varied (projector size,
    batch size, number of heads) and so compares no two configurations."""
    trials = sweep.trials[sweep.trials["outcome"] == Outcome.FINISHED]
    searched = [d for d in sweep.searched if f"params.{d}" in trials]
    parsed = parse_eval_metric_name(sweep.objective)
    if parsed is not None:
        validation, validation_mode = sweep.objective, sweep.mode
    else:
        protocol = report_protocol(sweep)
        metric = HEADLINE_METRICS[report_task(sweep, protocol)][0]
        evaluated = fractions(trials, "val", protocol, metric)
        validation = eval_metric_name("val", protocol, metric, max(evaluated)) if evaluated else None
        validation_mode = "max"
    loss_column, validation_column = "final train/loss", validation
    shown = pd.DataFrame(
        {d: parameter_values(trials[f"params.{d}"]).map(parameter_label) for d in searched}, index=trials.index
    )
    rows = []
    for position in range(len(trials)):
        trial = trials.iloc[[position]]
        key = (trial["trial"].iloc[0],) + tuple(shown.iloc[position])
        cells = {loss_column: summary(trial, "metrics.train/loss")}
        if validation_column:
            cells[validation_column] = summary(trial, f"metrics.{validation}")
        rows.append((key, cells))
    columns = [loss_column] + ([validation_column] if validation_column else [])
    directions = {validation_column: validation_mode} if validation_column else {}
    caption = (
        f"{sweep.name}: the pretext configurations tried (finished trials, creation order), final training "
        f"loss and validation score; best validation score in bold (losses of differently shaped "
        f"configurations are not comparable). {selection_note([sweep])}"
    )
    return table_from_cells("pretext_configurations", caption, ["trial"] + searched, rows, columns, directions)
