"""The sweeps a report covers, as MLflow recorded them: method, data, objective, trials by outcome, repeats,
supervised baselines and parent run."""

from __future__ import annotations

import pandas as pd

from trainables.records.tags import DOWNSTREAM_DATA_TAG, PRETEXT_DATA_TAG
from trainables.report.tables._table import TextTable, text_table
from trainables.tracking.runs import SweepRuns


def sweeps_covered(sweeps: list[SweepRuns]) -> TextTable:
    """One row per sweep, in the order given (the report's: by name); table name ``sweeps``."""
    rows = []
    for sweep in sweeps:
        trials = sweep.trials["outcome"].fillna("unended").value_counts()
        rows.append(
            {
                "sweep": sweep.name,
                "method": sweep.method,
                "data": f"{sweep.tags.get(PRETEXT_DATA_TAG, '?')} -> {sweep.tags.get(DOWNSTREAM_DATA_TAG, '?')}",
                "objective (validation)": f"{sweep.objective} ({sweep.mode})",
                "trials": ", ".join(f"{count} {outcome}" for outcome, count in sorted(trials.items())),
                "repeats": str(len(sweep.repeats)),
                "supervised baselines": str(len(sweep.baselines)),
                "parent run": sweep.parent_run_id,
            }
        )
    return text_table(pd.DataFrame(rows), "sweeps", "The sweeps this report covers, as MLflow recorded them.")
