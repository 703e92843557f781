"""Reference Table 3: per technique (method) and backbone, the finished trial selected on validation, with its test
scores, the same backbone untrained and trained supervised, and the gain over untrained."""

from __future__ import annotations

from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX
from trainables.report.tables._selection import METRIC_LABELS, metric_labels, row_sources, select, selection_note
from trainables.report.tables._table import Table, percent, points, table_from_cells
from trainables.tracking.runs import SweepRuns


def technique_by_backbone(sweeps: list[SweepRuns]) -> Table:
    """Reference Table 3: rows method x backbone; test headline scores (acc and macro-F1, or mIoU and mF1) of
    the trial selected on validation, the same backbone untrained, trained supervised on the same labels
    where a baseline ran, and the gain over untrained in points."""
    selections = select(sweeps)
    rows, keys, off_full = [], [], []
    metrics = metric_labels({m for s in selections for m in s.metrics})
    for selection in selections:
        fraction, cells = selection.headline_fraction, {}
        if fraction is not None:
            if fraction != 1.0:
                off_full.append(f"{selection.method} / {selection.backbone} at {percent(fraction)}")
            for metric in selection.metrics:
                label = METRIC_LABELS[metric]
                ssl, untrained = selection.test(metric, fraction), selection.test(metric, fraction, RANDOM_INIT_PREFIX)
                cells.update(
                    {
                        f"SSL {label}": ssl,
                        f"untrained {label}": untrained,
                        f"supervised {label}": selection.supervised(metric, fraction),
                        f"gain {label} (pts)": points(ssl, untrained),
                    }
                )
        keys.append((selection.method, selection.backbone))
        rows.append((keys[-1], cells))
    groups = ("SSL", "untrained", "supervised", "gain")
    columns = [
        f"{group} {label} (pts)" if group == "gain" else f"{group} {label}" for group in groups for label in metrics
    ]
    gains = [column for column in columns if column.startswith("gain ")]
    fractions_note = "100 % of the labels" + (
        f" (where not evaluated, the largest fraction: {'; '.join(off_full)})" if off_full else ""
    )
    caption = (
        f"Test scores per technique and backbone ({', '.join(sorted({s.protocol for s in selections}))} "
        f"protocol, {fractions_note}) of the best finished trial. {selection_note(sweeps)} Untrained: the "
        f"same backbone randomly initialised; supervised: trained from scratch on the same labels; gain: SSL "
        f"minus untrained, in percentage points. Best per column in bold."
    )
    return table_from_cells(
        "technique_by_backbone",
        caption,
        ["method", "backbone"],
        rows,
        columns,
        {column: "max" for column in columns},
        gains,
        sources=row_sources(["method", "backbone"], keys, selections),
    )
