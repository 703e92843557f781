"""The long-format frames the figures draw (``figures``), made from the selections and runs the builder read:
``label_fraction_scores`` (techniques against label fraction), ``scores_by_setting`` (one sweep's lines per value of
a searched parameter) and ``subsample_splits`` (the units a t-SNE map shows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX
from trainables.report.tables import Selected, parameter_label, parameter_values, test_scores
from trainables.tracking.runs import SweepRuns


def label_fraction_scores(selections: list[Selected], metric: str) -> pd.DataFrame:
    """``label_fraction_figure``'s input for selections on one data set: each technique x backbone pretrained,
    its backbone untrained and supervised. A backbone untrained (or supervised) with the same scores in several
    sweeps is one line; where scores differ (other windows, seeds), one line per distinct curve, named by the
    techniques it belongs to and coloured as the technique where it is one."""
    rows = []
    for selection in selections:
        series = f"{selection.method} / {selection.backbone}"
        for fraction in selection.test_fractions():
            cell = selection.test(metric, fraction)
            rows.append(
                {
                    "series": series,
                    "fraction": fraction,
                    "value": cell.mean,
                    "std": cell.std if cell.n > 1 else np.nan,
                    "kind": "pretrained",
                    "group": series,
                }
            )
    for kind, label in (("random_init", "untrained"), ("supervised", "supervised")):
        lines: dict[str, list[tuple[Selected, dict[float, float]]]] = {}
        for selection in selections:
            if kind == "random_init":
                values = {
                    f: selection.test(metric, f, RANDOM_INIT_PREFIX).mean
                    for f in selection.test_fractions(RANDOM_INIT_PREFIX)
                }
            else:
                values = {f: selection.supervised(metric, f).mean for f in selection.supervised_fractions()}
            values = {f: v for f, v in values.items() if pd.notna(v)}
            if values:
                lines.setdefault(selection.backbone, []).append((selection, values))
        for backbone, entries in lines.items():
            # One line per distinct curve, named by the techniques whose sweeps measured it where they differ.
            curves: dict[tuple, list[Selected]] = {}
            for selection, values in entries:
                curves.setdefault(tuple(sorted(values.items())), []).append(selection)
            for curve, sharing in curves.items():
                series = f"{label} {backbone}" + (
                    "" if len(curves) == 1 else f" ({', '.join(sorted({s.method for s in sharing}))})"
                )
                group = f"{sharing[0].method} / {backbone}" if len(sharing) == 1 and len(curves) > 1 else series
                rows += [
                    {"series": series, "fraction": f, "value": v, "std": np.nan, "kind": kind, "group": group}
                    for f, v in curve
                ]
    return pd.DataFrame(rows, columns=["series", "fraction", "value", "std", "kind", "group"])


def scores_by_setting(sweep: SweepRuns, parameter: str, protocol: str, metric: str) -> pd.DataFrame:
    """``label_fraction_figure``'s input for one sweep: per value of ``parameter``, the test ``metric`` of the best
    finished trial with that value, and the best trial's backbone randomly initialised."""
    finished = sweep.finished_trials
    values = parameter_values(finished[f"params.{parameter}"])
    rows = []
    for value in sorted(values.dropna().unique()):
        best = finished[values == value].iloc[[0]]  # finished_trials is best first
        for fraction, score in test_scores(best, protocol, metric).items():
            rows.append({"series": f"{parameter}={parameter_label(value)}", "fraction": fraction, "value": score})
    for fraction, score in test_scores(finished.iloc[[0]], protocol, metric, RANDOM_INIT_PREFIX).items():
        rows.append({"series": "random init", "fraction": fraction, "value": score, "kind": "random_init"})
    return pd.DataFrame(rows)
