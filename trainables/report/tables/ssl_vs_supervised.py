"""Reference Table 4: the selection of ``technique_by_backbone`` at every label fraction: supervised (where a
baseline ran), untrained and SSL test scores, and the gains of SSL over both."""

from __future__ import annotations

from collections import defaultdict

from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX
from trainables.report.tables._selection import (
    METRIC_LABELS,
    metric_labels,
    row_sources,
    select,
    selection_note,
    units_note,
)
from trainables.report.tables._table import Table, percent, points, table_from_cells
from trainables.tracking.runs import SweepRuns


def ssl_vs_supervised(sweeps: list[SweepRuns]) -> Table:
    """Reference Table 4: rows method x backbone x label fraction; supervised, untrained and SSL test scores of
    the trial selected on validation and the SSL gains in points. Every fraction any row of the same task
    evaluated gets a row; a fraction a trial did not evaluate stays empty. Bold: the best SSL score per column
    and fraction only (untrained and supervised are references, gains are over different references)."""
    selections = select(sweeps)
    fractions_by_task: dict[str, set[float]] = defaultdict(set)
    for selection in selections:
        fractions_by_task[selection.task].update(
            selection.test_fractions(), selection.test_fractions(RANDOM_INIT_PREFIX), selection.supervised_fractions()
        )
    metrics = metric_labels({m for s in selections for m in s.metrics})
    rows, keys, row_selections = [], [], []
    for selection in selections:
        for fraction in sorted(fractions_by_task[selection.task]):
            cells = {}
            for metric in selection.metrics:
                label = METRIC_LABELS[metric]
                ssl = selection.test(metric, fraction)
                untrained = selection.test(metric, fraction, RANDOM_INIT_PREFIX)
                supervised = selection.supervised(metric, fraction)
                cells.update(
                    {
                        f"supervised {label}": supervised,
                        f"untrained {label}": untrained,
                        f"SSL {label}": ssl,
                        f"gain over supervised {label} (pts)": points(ssl, supervised),
                        f"gain over untrained {label} (pts)": points(ssl, untrained),
                    }
                )
            keys.append((selection.method, selection.backbone, percent(fraction)))
            rows.append((keys[-1], cells))
            row_selections.append(selection)
    columns = [f"{group} {label}" for group in ("supervised", "untrained", "SSL") for label in metrics] + [
        f"gain over {base} {label} (pts)" for base in ("supervised", "untrained") for label in metrics
    ]
    gains = [column for column in columns if column.startswith("gain ")]
    scores = [column for column in columns if column.startswith("SSL ")]
    supervised = any(s.has_supervised for s in selections)
    caption = (
        f"{'SSL against supervised and untrained' if supervised else 'SSL against untrained'} by label "
        f"fraction: test scores ({', '.join(sorted({s.protocol for s in selections}))} protocol) of the best "
        f"finished trial per technique and backbone, the same backbone untrained"
        f"{', and trained supervised from scratch on the same labels' if supervised else ''}; gains of SSL in "
        f"percentage points. {selection_note(sweeps)} Best SSL score per column and label fraction in bold; "
        f"empty: not evaluated.{units_note(selections)}"
    )
    names = ["method", "backbone", "labels"]
    return table_from_cells(
        "ssl_vs_supervised",
        caption,
        names,
        rows,
        columns,
        {column: "max" for column in scores},
        gains,
        within="labels",
        sources=row_sources(names, keys, row_selections),
    )
