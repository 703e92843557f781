"""Per-class test IoU of a segmentation sweep's best trial, pretrained against randomly initialised."""

from __future__ import annotations

from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX, eval_metric_name
from trainables.report.tables._selection import (
    check_selects_on_validation,
    eval_columns,
    report_protocol,
    selection_note,
    with_repeats,
)
from trainables.report.tables._table import Table, percent, points, summary, table_from_cells
from trainables.tracking.runs import ReportError, SweepRuns


def per_class_iou(sweep: SweepRuns) -> Table:
    """Per-class test IoU of the sweep's best trial (selected on validation) at 100 % of the labels (or the
    largest fraction evaluated), pretrained vs randomly initialised, and the gain in points. Nothing in bold:
    classes do not compete, the untrained column is a reference and the gains are over it."""
    check_selects_on_validation(sweep)
    best = sweep.finished_trials.iloc[0]
    members = with_repeats(sweep, best["run_id"])
    protocol = report_protocol(sweep)
    per_class = [
        parsed
        for _, parsed in eval_columns(members)
        if parsed.split == "test"
        and parsed.protocol == protocol
        and not parsed.prefix
        and parsed.metric.startswith("iou_")
    ]
    if not per_class:
        raise ReportError(
            f"sweep '{sweep.name}': its best trial records no per-class test IoU (test/{protocol}/iou_<class>/frac_<f>)"
        )
    fractions = {parsed.fraction for parsed in per_class}
    fraction = 1.0 if 1.0 in fractions else max(fractions)
    classes = sorted({parsed.metric for parsed in per_class if parsed.fraction == fraction})
    rows = []
    for metric in classes:
        pretrained = summary(members, f"metrics.{eval_metric_name('test', protocol, metric, fraction)}")
        untrained = summary(
            members, f"metrics.{eval_metric_name('test', protocol, metric, fraction, RANDOM_INIT_PREFIX)}"
        )
        rows.append(
            (
                (metric.removeprefix("iou_"),),
                {
                    "pretrained IoU": pretrained,
                    "random init IoU": untrained,
                    "gain (pts)": points(pretrained, untrained),
                },
            )
        )
    columns = ["pretrained IoU", "random init IoU", "gain (pts)"]
    caption = (
        f"{sweep.name}: test IoU per class ({protocol}, {percent(fraction)} of the labels) of the best trial "
        f"{best.get('trial')}, pretrained and randomly initialised; gain in percentage "
        f"points. {selection_note([sweep])}"
    )
    return table_from_cells("per_class_iou", caption, ["class"], rows, columns, {}, ["gain (pts)"])
