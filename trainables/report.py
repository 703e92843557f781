"""Report tables in the reference reports' shape, generated from what MLflow recorded (never from memory).

- ``search_grid``: one row per trial: its searched hyperparameters -> validation accuracy and macro-F1 of
  the objective's protocol (the reference report's Table 5, backbone x projector x lambda).
- ``best_per_backbone``: the best finished trial of each backbone (selected on validation), with its test
  accuracy and macro-F1 at every label fraction, and the same backbone untrained beside it (Tables 3/4).
- ``repeats`` (with ``final.repeats``): each re-run configuration's mean +/- std over training seeds.
- ``pretraining_gain``: per backbone and label fraction, test accuracy of the backbone untrained, trained
  supervised from scratch on the same labels (``evaluation.supervised_baseline``) and pretrained, and the
  gains: what pretraining adds.
All are written as Markdown and CSV to ``reports/<sweep-name>/`` and logged to the sweep's parent run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from selfsup.config import SweepSpec
from selfsup.evaluation.metric_names import eval_metric_name, parse_eval_metric_name
from trainables.results import FINISHED
from trainables.selection import best_first, best_per_backbone


@dataclass
class Report:
    directory: Path
    runs: pd.DataFrame
    search_grid: pd.DataFrame
    best_per_backbone: pd.DataFrame
    best_run_id: str | None


def child_runs(tracking_uri: str, parent_run_id: str) -> pd.DataFrame:
    client = MlflowClient(tracking_uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                              output_format="pandas")


def objective_column_of(spec: SweepSpec) -> str:
    return f"metrics.{spec.objective.metric}"


def report_protocol(spec: SweepSpec) -> str:
    parsed = parse_eval_metric_name(spec.objective.metric)
    if parsed is not None:
        return parsed.protocol
    return "linear" if "linear" in spec.evaluation.protocols else spec.evaluation.protocols[0]


def build_report(spec: SweepSpec, tracking_uri: str, parent_run_id: str, reports_dir: Path) -> Report:
    all_runs = best_first(child_runs(tracking_uri, parent_run_id), objective_column_of(spec), spec.objective.mode)
    # Final repeats and supervised baselines are not search trials: they never compete for best.
    role = all_runs.get("tags.sslsweep.role", pd.Series("trial", index=all_runs.index)).fillna("trial")
    runs = all_runs[role == "trial"].reset_index(drop=True)
    repeats, baselines = all_runs[role == "repeat"], all_runs[role == "supervised_baseline"]
    protocol = report_protocol(spec)
    objective_column = objective_column_of(spec)

    metrics, headline = spec.domain.report_metrics, spec.domain.report_metrics[0]
    val_scores = {f"val {protocol} {metric}": eval_metric_name("val", protocol, metric, 1.0) for metric in metrics}
    grid = pd.DataFrame({
        "trial": runs.get("tags.sslsweep.trial_id"),
        "outcome": runs.get("tags.sslsweep.outcome"),
        **{key: runs.get(f"params.{key}").map(_short) for key in sorted(spec.search) if f"params.{key}" in runs},
        **({} if spec.objective.metric in val_scores.values() else {spec.objective.metric: runs.get(objective_column)}),
        **{label: runs.get(f"metrics.{name}") for label, name in val_scores.items()},
    })

    finished = runs[runs["tags.sslsweep.outcome"] == FINISHED] if len(runs) else runs
    rows = []
    best_run_id = None
    if len(finished):
        best_run_id = str(finished.iloc[0]["run_id"])  # runs are sorted best first (selection.py)
        for backbone, best in best_per_backbone(finished).items():
            encoders = [("", spec.method)] + ([("random_init/", "untrained")]
                                              if spec.evaluation.compare_random_init else [])
            for prefix, label in encoders:
                for probe in spec.evaluation.protocols:
                    row = {"backbone": backbone, "encoder": label, "protocol": probe,
                           "trial": best.get("tags.sslsweep.trial_id")}
                    for fraction in spec.evaluation.label_fractions:
                        for metric in metrics:
                            column = f"metrics.{eval_metric_name('test', probe, metric, fraction, prefix=prefix)}"
                            row[f"test {metric} @ {_percent(fraction)}"] = best.get(column)
                    rows.append(row)
    best_table = pd.DataFrame(rows)

    tables = [
        ("search_grid", grid, f"{spec.name}: search grid (validation, {protocol} probe, 100 % labels)"),
        ("best_per_backbone", best_table,
         f"{spec.name}: best trial per backbone, selected on {spec.objective.metric}; test scores, and the same "
         f"backbone untrained"),
    ]
    if best_run_id is not None:
        tables.append(("pretraining_gain", pretraining_gain_table(spec, finished, baselines, protocol),
                       f"{spec.name}: what pretraining adds: test {headline} ({protocol}) of the best trial's "
                       f"backbone untrained, trained supervised on the same labels, and pretrained with "
                       f"{spec.method}"))
    if len(repeats):
        tables.append(("repeats", repeats_table(spec, runs, repeats, protocol),
                       f"{spec.name}: the best configurations over training seeds (the search trial and its final "
                       f"repeats), mean +/- std, {protocol} probe"))

    directory = reports_dir / spec.name
    directory.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri)
    for name, table, title in tables:
        table.to_csv(directory / f"{name}.csv", index=False)
        (directory / f"{name}.md").write_text(f"### {title}\n\n{to_markdown(table)}\n")
        client.log_artifact(parent_run_id, str(directory / f"{name}.csv"), "report")
        client.log_artifact(parent_run_id, str(directory / f"{name}.md"), "report")
    return Report(directory, runs, grid, best_table, best_run_id)


def repeats_table(spec: SweepSpec, runs: pd.DataFrame, repeats: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """One row per repeated configuration: the search trial plus its finished repeats, mean +/- std over seeds
    of the objective and of the test scores at every label fraction."""
    rows = []
    for original_id, group in repeats.groupby("tags.sslsweep.repeat_of", sort=False):
        original = runs[runs["run_id"] == original_id]
        members = pd.concat([original, group])
        members = members[members["tags.sslsweep.outcome"] == FINISHED]
        row = {"trial": original["tags.sslsweep.trial_id"].iloc[0] if len(original) else original_id,
               "backbone": members["params.backbone"].iloc[0] if len(members) else None, "seeds": len(members),
               spec.objective.metric: _mean_std(members.get(objective_column_of(spec)))}
        for fraction in spec.evaluation.label_fractions:
            for metric in spec.domain.report_metrics:
                column = f"metrics.{eval_metric_name('test', protocol, metric, fraction)}"
                row[f"test {metric} @ {_percent(fraction)}"] = _mean_std(members.get(column))
        rows.append(row)
    return pd.DataFrame(rows)


def pretraining_gain_table(spec: SweepSpec, finished: pd.DataFrame, baselines: pd.DataFrame,
                           protocol: str) -> pd.DataFrame:
    """One row per backbone (its best finished trial) and label fraction: untrained, supervised, pretrained
    test accuracy and the pretrained backbone's gain over each (blank where not measured)."""
    rows = []
    for backbone, best in best_per_backbone(finished).items():
        mine = baselines[baselines["tags.sslsweep.baseline_of"] == best["run_id"]] if len(baselines) else baselines
        for fraction in spec.evaluation.label_fractions:
            test = eval_metric_name("test", protocol, spec.domain.report_metrics[0], fraction)
            pretrained = best.get(f"metrics.{test}")
            untrained = best.get(f"metrics.random_init/{test}")
            supervised = None
            if len(mine):
                at_fraction = mine[pd.to_numeric(mine["params.label_fraction"]).sub(fraction).abs() < 1e-9]
                at_fraction = at_fraction[at_fraction["tags.sslsweep.outcome"] == FINISHED]
                scores = at_fraction.get(f"metrics.{test}", pd.Series(dtype=float)).dropna()
                supervised = scores.iloc[0] if len(scores) else None
            rows.append({"method": spec.method, "backbone": backbone, "labels": _percent(fraction),
                         "untrained": untrained, "supervised": supervised, "pretrained": pretrained,
                         "gain over untrained": _difference(pretrained, untrained),
                         "gain over supervised": _difference(pretrained, supervised)})
    return pd.DataFrame(rows)


def _difference(a, b):
    return a - b if a is not None and b is not None and a == a and b == b else None


def _mean_std(values) -> str:
    values = pd.Series(dtype=float) if values is None else pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return ""
    return f"{values.mean():.4f} +/- {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _short(value):
    """Searched values as MLflow stores them (strings), shortened: 0.00442480476419164 -> 0.004425."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() and "." not in str(value) else float(f"{number:.4g}")


def to_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "_no finished trials_"

    def cell(value) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.4g}"
        return "" if value is None else str(value)

    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])
