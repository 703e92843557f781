"""A sweep's answer where MLflow shows it first: on its parent run, so the runs table answers "which backbone, which
configuration, and how much does pretraining add" without opening a report.

``sweep_answer`` reads the recorded sweep (``tracking.runs.SweepRuns``) with the report's own selection
(``tables._selection``: finished search trials, on validation, ties by creation) and gives
- the parent run's description (MLflow's run note, Markdown): the selected trial by name, its objective, its test
  scores at every protocol and label fraction beside the same backbone untrained (and the gain) and the supervised
  baseline where one ran, the best trial of every other backbone, and links to the selected run and to the
  decision view (``tracking.ui_links``);
- metrics ``best/objective``, ``best/<test score>`` and ``gain/<test score>`` of the selected trial;
- tags naming the selected run, its trial number and its backbone;
- a run name that says, folded, which backbone won and by how much.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import pandas as pd
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX
from trainables.records.results import BEST_PREFIX, OBJECTIVE_METRIC, Outcome, gains
from trainables.records.tags import (
    BEST_BACKBONE_TAG,
    BEST_RUN_TAG,
    BEST_TRIAL_NUMBER_TAG,
    NOTE_TAG,
    RUN_NAME_TAG,
    TRIAL_NUMBER_TAG,
    tag_column,
)
from trainables.report.markdown import markdown_text
from trainables.report.tables._selection import METRIC_LABELS, Selected, eval_columns, select
from trainables.report.tables._table import percent
from trainables.tracking.runs import SweepRuns
from trainables.tracking.ui_links import run_link, runs_view_link


@dataclass(frozen=True)
class SweepAnswer:
    run_name: str
    note: str  # Markdown
    metrics: dict[str, float]
    tags: dict[str, str]


def sweep_answer(sweep: SweepRuns, runs_view: str | None = None) -> SweepAnswer | None:
    """The parent run's answer; None without a finished trial. ``runs_view``: the link to its decision view
    (default: the runs page filtered and sorted by URL, ``tracking.ui_links.runs_view_link``)."""
    runs_view = runs_view or runs_view_link("", sweep.experiment_id, sweep.parent_run_id, sweep.mode)
    finished = sweep.finished_trials
    if finished.empty:
        return None
    best = finished.iloc[0]
    selections = _best_first(select([sweep]), sweep)
    chosen = next((s for s in selections if s.run["run_id"] == best["run_id"]), selections[0])
    objective = float(best[sweep.objective_column])
    test = {column.removeprefix("metrics."): float(best[column]) for column, parsed in _tests(best)}
    best_gains = gains({**test, **_untrained(best)})
    headline = _headline_gain(chosen)
    number = _number(best)
    metrics = {f"{BEST_PREFIX}{OBJECTIVE_METRIC}": objective, **{BEST_PREFIX + k: v for k, v in test.items()}}
    metrics.update(best_gains)
    tags = {BEST_RUN_TAG: str(best["run_id"]), BEST_BACKBONE_TAG: chosen.backbone}
    if number:
        tags[BEST_TRIAL_NUMBER_TAG] = number
    verdict = f"best {chosen.backbone}" + (f" #{number}" if number else "")
    if headline is not None:
        verdict += f", {headline:+.1f} pts over untrained"
    return SweepAnswer(
        run_name=f"{sweep.parent_run_name.split(' · ')[0]} · {verdict}",
        note=_note(sweep, chosen, selections, objective, runs_view),
        metrics={key: value for key, value in metrics.items() if math.isfinite(value)},
        tags=tags,
    )


def verdict(sweep: SweepRuns, selections: list[Selected]) -> str | None:
    """One sentence a report opens with per sweep: its selected trial, and its headline test score beside the same
    backbone untrained and trained supervised. None without a finished trial."""
    finished = sweep.finished_trials
    own = [s for s in selections if s.sweep is sweep]
    if finished.empty or not own:
        return None
    best = finished.iloc[0]
    chosen = next((s for s in own if s.run["run_id"] == best["run_id"]), _best_first(own, sweep)[0])
    name = chosen.run.get(tag_column(RUN_NAME_TAG)) or chosen.run.get("trial")
    text = (
        f"{sweep.name}: selected {name} ({chosen.method} / {chosen.backbone}) on validation {sweep.objective} = "
        f"{float(chosen.run[sweep.objective_column]):.4f}"
    )
    fraction = chosen.headline_fraction
    if fraction is None:
        return text + "."
    metric = chosen.metrics[0]
    score = chosen.test(metric, fraction)
    untrained = chosen.test(metric, fraction, RANDOM_INIT_PREFIX)
    supervised = chosen.supervised(metric, fraction)
    text += (
        f"; test {chosen.protocol} {METRIC_LABELS.get(metric, metric)} at {percent(fraction)} labels {score.mean:.3f}"
    )
    if untrained.n:
        text += f" against {untrained.mean:.3f} untrained ({100 * (score.mean - untrained.mean):+.1f} points)"
    text += f", {supervised.mean:.3f} trained supervised" if supervised.n else ", no supervised baseline run"
    return text + "."


def log_answer(tracking_uri: str, parent_run_id: str, answer: SweepAnswer) -> None:
    """Write the answer on the sweep's parent run."""
    client = MlflowClient(tracking_uri)
    client.update_run(parent_run_id, name=answer.run_name)
    client.log_batch(
        parent_run_id,
        metrics=[Metric(key, value, int(time.time() * 1000), 0) for key, value in sorted(answer.metrics.items())],
        tags=[RunTag(key, value) for key, value in {**answer.tags, NOTE_TAG: answer.note}.items()],
    )


def _best_first(selections: list[Selected], sweep: SweepRuns) -> list[Selected]:
    sign = -1 if sweep.mode == "max" else 1
    return sorted(selections, key=lambda s: sign * float(s.run[sweep.objective_column]))


def _tests(run: pd.Series):
    """(column, parsed) of the run's own test scores (no prefix)."""
    frame = run.to_frame().T
    return [(c, p) for c, p in eval_columns(frame) if p.split == "test" and not p.prefix]


def _untrained(run: pd.Series) -> dict[str, float]:
    prefix = f"metrics.{RANDOM_INIT_PREFIX}"
    return {
        column.removeprefix("metrics."): float(value)
        for column, value in run.items()
        if str(column).startswith(prefix) and pd.notna(value)
    }


def _number(run: pd.Series) -> str:
    value = run.get(tag_column(TRIAL_NUMBER_TAG))
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _headline_gain(chosen: Selected) -> float | None:
    fraction = chosen.headline_fraction
    if fraction is None:
        return None
    metric = chosen.metrics[0]
    gain = chosen.test(metric, fraction).mean - chosen.test(metric, fraction, RANDOM_INIT_PREFIX).mean
    return 100 * gain if math.isfinite(gain) else None


def _number_text(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return ""
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _score_rows(chosen: Selected) -> list[str]:
    protocols = sorted({p.protocol for _, p in _tests(chosen.run)})
    rows = []
    for protocol in protocols:
        row = replace(chosen, protocol=protocol)
        for fraction in row.test_fractions():
            for metric in chosen.metrics[:1]:
                score = row.test(metric, fraction)
                untrained = row.test(metric, fraction, RANDOM_INIT_PREFIX)
                supervised = row.supervised(metric, fraction)
                rows.append(
                    f"| {markdown_text(protocol)} {METRIC_LABELS.get(metric, metric)}, {percent(fraction)} labels | "
                    f"{_number_text(score.mean)} | {_number_text(untrained.mean)} | "
                    f"{_number_text(score.mean - untrained.mean, signed=True)} | {_number_text(supervised.mean)} |"
                )
    return rows


def _note(sweep: SweepRuns, chosen: Selected, selections: list[Selected], objective: float, runs_view: str) -> str:
    counts = sweep.trials["outcome"].value_counts()
    ended = ", ".join(
        f"{int(counts.get(kind, 0))} {kind}" for kind in (Outcome.FINISHED, Outcome.PRUNED, Outcome.FAILED)
    )
    better = "higher" if sweep.mode == "max" else "lower"
    name = markdown_text(chosen.run.get(tag_column(RUN_NAME_TAG), "") or chosen.run["run_id"])
    links = [
        f"[the selected trial's run]({run_link('', sweep.experiment_id, chosen.run['run_id'])})",
        f"[every finished trial, best first]({runs_view})",
    ]
    lines = [
        f"**Selected: {name}** ({markdown_text(chosen.method)} on {markdown_text(chosen.backbone)}), "
        f"chosen on validation {markdown_text(sweep.objective)} ({better} is better) = **{objective:.4f}**.",
        "",
        f"{len(sweep.trials)} trials: {ended}. Open {' or '.join(links)}.",
        "",
        "| test score | selected | untrained | gain | supervised |",
        "|---|---|---|---|---|",
        *_score_rows(chosen),
    ]
    if chosen.members.shape[0] > 1:
        lines += ["", f"Scores average the trial and its {chosen.members.shape[0] - 1} final repeat(s)."]
    if len(selections) > 1:
        lines += ["", "Best trial of each backbone (on validation):", "", "| backbone | trial | objective | gain |"]
        lines.append("|---|---|---|---|")
        for selection in selections:
            gain = _headline_gain(selection)
            lines.append(
                f"| {markdown_text(selection.backbone)} | "
                f"{markdown_text(selection.run.get(tag_column(RUN_NAME_TAG), ''))} | "
                f"{float(selection.run[sweep.objective_column]):.4f} | "
                f"{'' if gain is None else f'{gain:+.1f} pts'} |"
            )
    return "\n".join(lines)
