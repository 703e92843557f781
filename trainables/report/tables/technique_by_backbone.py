"""Reference Table 3, the report's headline table: per technique (method) and backbone, the finished trial selected on
validation, with its test headline score at the fewest labels it was tested with (and at 100 %), the same backbone
untrained and trained supervised, and the gain over untrained; kNN beside the report's protocol where recorded."""

from __future__ import annotations

from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX
from trainables.report.tables._selection import (
    METRIC_LABELS,
    SECOND_PROTOCOL,
    Selected,
    protocol_label,
    row_sources,
    select,
    selection_note,
    units_note,
)
from trainables.report.tables._table import Cell, Table, percent, points, table_from_cells
from trainables.tracking.runs import SweepRuns


def technique_by_backbone(sweeps: list[SweepRuns]) -> Table:
    """Reference Table 3: rows method x backbone; the headline test metric (accuracy, or mIoU) of the trial
    selected on validation, the same backbone untrained, trained supervised on the same labels where a baseline
    ran, and the gain over untrained in points.

    Label fractions: each trial's ``Selected.headline_fraction`` (the fewest labels it was tested with, where
    pretraining has the most to add) and 100 % where that is another fraction it was tested with; a column per
    fraction, so a column compares rows at the same labels. Protocols: the report's (the objective's) and kNN
    where the trial recorded it, so a probe that hides a backbone adding nothing is not the only readout. F1 and
    every other fraction are in ``ssl_vs_supervised``. Bold: the best pretrained score of each column only."""
    selections = select(sweeps)
    blocks = _blocks(selections)
    rows, keys = [], []
    for selection in selections:
        cells: dict[str, Cell] = {}
        for fraction, protocol in blocks:
            metric = selection.metrics[0]
            ssl = selection.test(metric, fraction, protocol=protocol)
            if not ssl.n:
                continue
            untrained = selection.test(metric, fraction, RANDOM_INIT_PREFIX, protocol=protocol)
            names = _column_names(METRIC_LABELS[metric], protocol, fraction)
            cells.update({names["SSL"]: ssl, names["untrained"]: untrained, names["gain"]: points(ssl, untrained)})
            if protocol == selection.protocol:
                cells[names["supervised"]] = selection.supervised(metric, fraction)
        keys.append((selection.method, selection.backbone))
        rows.append((keys[-1], cells))
    metric_labels = sorted({METRIC_LABELS[s.metrics[0]] for s in selections})
    columns, scores, gains = [], [], []
    for fraction, protocol in blocks:
        for label in metric_labels:
            names = _column_names(label, protocol, fraction)
            columns += [names["SSL"], names["untrained"], names["gain"], names["supervised"]]
            scores.append(names["SSL"])
            gains.append(names["gain"])
    return table_from_cells(
        "technique_by_backbone",
        _caption(selections, blocks, sweeps),
        ["method", "backbone"],
        rows,
        columns,
        {column: "max" for column in scores},
        gains,
        sources=row_sources(["method", "backbone"], keys, selections),
    )


def _blocks(selections: list[Selected]) -> list[tuple[float, str]]:
    """(label fraction, protocol) of each column block: per fraction shown (each trial's headline fraction, and
    100 % where tested), the report protocols, then kNN where a trial recorded it there."""
    shown: set[float] = set()
    for selection in selections:
        if selection.headline_fraction is not None:
            shown.add(selection.headline_fraction)
            if 1.0 in selection.test_fractions():
                shown.add(1.0)
    reported = sorted({s.protocol for s in selections})
    blocks = []
    for fraction in sorted(shown):
        blocks += [(fraction, protocol) for protocol in reported]
        knn = any(fraction in s.test_fractions(protocol=SECOND_PROTOCOL) for s in selections)
        if knn and SECOND_PROTOCOL not in reported:
            blocks.append((fraction, SECOND_PROTOCOL))
    return blocks


def _column_names(metric_label: str, protocol: str, fraction: float) -> dict[str, str]:
    score = f"{protocol_label(protocol)} {metric_label} {percent(fraction)}"
    return {
        "SSL": f"SSL {score}",
        "untrained": f"untrained {score}",
        "gain": f"gain {score} (pts)",
        "supervised": f"supervised {score}",
    }


def _caption(selections: list[Selected], blocks: list[tuple[float, str]], sweeps: list[SweepRuns]) -> str:
    headline = sorted({s.headline_fraction for s in selections if s.headline_fraction is not None})
    fractions_text = ", ".join(percent(f) for f in headline)
    full = " and at 100 % of the labels" if any(f == 1.0 for f, _ in blocks) and headline != [1.0] else ""
    knn = any(protocol == SECOND_PROTOCOL for _, protocol in blocks) and any(
        s.protocol != SECOND_PROTOCOL for s in selections
    )
    supervised = any(s.has_supervised for s in selections)
    others = " and ".join(sorted({METRIC_LABELS[s.metrics[1]] for s in selections}))
    return (
        f"Test scores per technique and backbone of the best finished trial, at the fewest labels each trial was "
        f"tested with (the smallest label fraction evaluated, where pretraining has the most to add: "
        f"{fractions_text}){full}; "
        f"{', '.join(sorted({s.protocol for s in selections}))} protocol"
        f"{' and kNN where recorded' if knn else ''}. {selection_note(sweeps)} Untrained: the same backbone "
        f"randomly initialised"
        f"{'; supervised: trained from scratch on the same labels' if supervised else ''}; gain: SSL minus "
        f"untrained, in percentage points. {others} and every label fraction: the label-fraction table. Best SSL "
        f"score per column in bold; empty: not evaluated.{units_note(selections)}"
    )
