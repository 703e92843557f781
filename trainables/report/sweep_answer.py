"""A sweep's answer where MLflow shows it first: on its parent run, so the runs table answers "which backbone, which
configuration, and how much does pretraining add" without opening a report.

``sweep_answer`` reads the recorded sweep (``tracking.runs.SweepRuns``) with the report's own selection
(``tables._selection``: finished search trials, on validation, ties by creation) and gives
- the parent run's description (MLflow's run note, Markdown): the selected trial by name, its objective, its test
  scores at every protocol and label fraction beside the same backbone untrained (and the gain) and the supervised
  baseline where one ran, how many test units the scores are over, the best trial of every other backbone, and
  links to the selected run and to the decision view (``tracking.ui_links``);
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
from trainables.report.tables._selection import METRIC_LABELS, Selected, eval_columns, protocol_label, select
from trainables.report.tables._table import percent
from trainables.tracking.runs import SweepRuns
from trainables.tracking.ui_links import run_link, runs_view_link


@dataclass(frozen=True)
class SweepAnswer:
    run_name: str
    note: str  # Markdown
    metrics: dict[str, float]
    tags: dict[str, str]


@dataclass(frozen=True)
class ScoreRow:
    """One test score of a selected trial beside the same backbone untrained and supervised (NaN: not run)."""

    protocol: str
    metric: str
    fraction: float
    score: float
    untrained: float
    supervised: float

    @property
    def gain(self) -> float:
        return self.score - self.untrained

    def label(self) -> str:
        """E.g. "linear acc, 10 % labels"."""
        return f"{protocol_label(self.protocol)} {METRIC_LABELS.get(self.metric, self.metric)}, {percent(self.fraction)} labels"


def score_rows(chosen: Selected) -> list[ScoreRow]:
    """The selected trial's headline-metric test scores (averaged with its repeats) at every protocol and label
    fraction it was tested with: what its parent run's note and its model version's description list."""
    metric = chosen.metrics[0]
    protocols = sorted(
        {parsed.protocol for _, parsed in eval_columns(chosen.members) if parsed.split == "test" and not parsed.prefix}
    )
    scores = []
    for protocol in protocols:
        row = replace(chosen, protocol=protocol)
        for fraction in row.test_fractions():
            scores.append(
                ScoreRow(
                    protocol,
                    metric,
                    fraction,
                    row.test(metric, fraction).mean,
                    row.test(metric, fraction, RANDOM_INIT_PREFIX).mean,
                    row.supervised(metric, fraction).mean,
                )
            )
    return scores


def selected_trial(sweep: SweepRuns, selections: list[Selected]) -> Selected | None:
    """Of ``selections`` (``tables._selection.select``: one per backbone), the one of the sweep's best finished
    trial; None without a finished trial."""
    own = [s for s in selections if s.sweep is sweep]
    finished = sweep.finished_trials
    if finished.empty or not own:
        return None
    best = finished.iloc[0]["run_id"]
    return next((s for s in own if s.run["run_id"] == best), _best_first(own, sweep)[0])


def headline_gain(selected: Selected) -> float | None:
    """The gain, in points, of its headline test score (``Selected.headline_fraction``) over untrained."""
    fraction = selected.headline_fraction
    if fraction is None:
        return None
    metric = selected.metrics[0]
    gain = selected.test(metric, fraction).mean - selected.test(metric, fraction, RANDOM_INIT_PREFIX).mean
    return 100 * gain if math.isfinite(gain) else None


def sweep_answer(
    sweep: SweepRuns, runs_view: str | None = None, selections: list[Selected] | None = None
) -> SweepAnswer | None:
    """The parent run's answer; None without a finished trial. ``runs_view``: the link to its decision view
    (default: the runs page filtered and sorted by URL, ``tracking.ui_links.runs_view_link``); ``selections``:
    ``select([sweep])`` where the caller has it."""
    runs_view = runs_view or runs_view_link("", sweep.experiment_id, sweep.parent_run_id, sweep.mode)
    selections = _best_first(select([sweep]) if selections is None else selections, sweep)
    selected = selected_trial(sweep, selections)
    if selected is None:
        return None
    best = selected.run
    objective = float(best[sweep.objective_column])
    test = {
        column.removeprefix("metrics."): float(best[column])
        for column, parsed in eval_columns(best.to_frame().T)
        if parsed.split == "test" and not parsed.prefix
    }
    metrics = {f"{BEST_PREFIX}{OBJECTIVE_METRIC}": objective, **{BEST_PREFIX + k: v for k, v in test.items()}}
    metrics.update(gains({**test, **_untrained(best)}))
    number = _number(best)
    tags = {BEST_RUN_TAG: str(best["run_id"]), BEST_BACKBONE_TAG: selected.backbone}
    if number:
        tags[BEST_TRIAL_NUMBER_TAG] = number
    folded = f"best {selected.backbone}" + (f" #{number}" if number else "")
    headline = headline_gain(selected)
    if headline is not None:
        folded += f", {headline:+.1f} pts over untrained at {percent(selected.headline_fraction)} labels"
    return SweepAnswer(
        run_name=f"{sweep.parent_run_name.split(' · ')[0]} · {folded}",
        note=_note(sweep, selected, selections, objective, runs_view),
        metrics={key: value for key, value in metrics.items() if math.isfinite(value)},
        tags=tags,
    )


def verdict(sweep: SweepRuns, selections: list[Selected]) -> str | None:
    """The paragraph a report opens with per sweep: its selected trial, its headline test score beside the same
    backbone untrained and trained supervised, its gains at every protocol and label fraction (``gains_text``) and
    how many test units they are over. None without a finished trial."""
    selected = selected_trial(sweep, selections)
    if selected is None:
        return None
    name = selected.run.get(tag_column(RUN_NAME_TAG)) or selected.run.get("trial")
    text = (
        f"{sweep.name}: selected {name} ({selected.method} / {selected.backbone}) on validation {sweep.objective} = "
        f"{float(selected.run[sweep.objective_column]):.4f}"
    )
    fraction = selected.headline_fraction
    if fraction is None:
        return text + "."
    metric = selected.metrics[0]
    score = selected.test(metric, fraction)
    untrained = selected.test(metric, fraction, RANDOM_INIT_PREFIX)
    supervised = selected.supervised(metric, fraction)
    text += (
        f"; test {selected.protocol} {METRIC_LABELS.get(metric, metric)} at {percent(fraction)} labels {score.mean:.3f}"
    )
    if untrained.n:
        text += f" against {untrained.mean:.3f} untrained ({100 * (score.mean - untrained.mean):+.1f} points)"
    if supervised.n:
        text += f", {supervised.mean:.3f} trained supervised"
    else:
        text += (
            f", no supervised baseline at {percent(fraction)} labels"
            if selected.has_supervised
            else ", no supervised baseline run"
        )
    text += ". " + gains_text(selected)
    units = selected.test_units_text()
    return text + (f" Over {units}." if units else "")


def gains_text(selected: Selected) -> str:
    """Its gains over untrained at every protocol and label fraction, in points, each flagged where it is negative
    or, on classification data, within one test unit (a score over 40 units moves in steps of 2.5 points):
    "Gains over untrained (acc, points): linear +10.0 at 1 %, +1.2 at 100 % (within one unit); kNN -5.0 at 1 %
    (negative)." Empty without an untrained score."""
    units = selected.test_units if selected.task == "classification" else None
    step = 100 / units if units else None
    by_protocol: dict[str, list[str]] = {}
    for row in score_rows(selected):
        if not math.isfinite(row.gain):
            continue
        points = 100 * row.gain
        flag = ""
        if step is not None and abs(points) < step:
            flag = " (within one unit)"
        elif points < 0:
            flag = " (negative)"
        by_protocol.setdefault(protocol_label(row.protocol), []).append(
            f"{points:+.1f} at {percent(row.fraction)}{flag}"
        )
    if not by_protocol:
        return ""
    metric = METRIC_LABELS.get(selected.metrics[0], selected.metrics[0])
    listed = "; ".join(f"{protocol} {', '.join(gains)}" for protocol, gains in by_protocol.items())
    return f"Gains over untrained ({metric}, points): {listed}."


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
    """In the order of their runs among the sweep's finished trials, best first with the one tie-break
    (``records.selection.best_first``: objective, then trial number, then creation)."""
    rank = {run_id: place for place, run_id in enumerate(sweep.finished_trials["run_id"])}
    return sorted(selections, key=lambda selection: rank.get(selection.run["run_id"], len(rank)))


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


def _number_text(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return ""
    return f"{value:+.3f}" if signed else f"{value:.3f}"


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
    ]
    for row in score_rows(chosen):
        lines.append(
            f"| {markdown_text(row.label())} | {_number_text(row.score)} | {_number_text(row.untrained)} | "
            f"{_number_text(row.gain, signed=True)} | {_number_text(row.supervised)} |"
        )
    units = chosen.test_units_text()
    if units:
        lines += ["", f"Test scores are over {units}."]
    if chosen.members.shape[0] > 1:
        lines += ["", f"Scores average the trial and its {chosen.members.shape[0] - 1} final repeat(s)."]
    if len(selections) > 1:
        lines += ["", "Best trial of each backbone (on validation):", "", "| backbone | trial | objective | gain |"]
        lines.append("|---|---|---|---|")
        for selection in selections:
            gain = headline_gain(selection)
            lines.append(
                f"| {markdown_text(selection.backbone)} | "
                f"{markdown_text(selection.run.get(tag_column(RUN_NAME_TAG), ''))} | "
                f"{float(selection.run[sweep.objective_column]):.4f} | "
                f"{'' if gain is None else f'{gain:+.1f} pts at {percent(selection.headline_fraction)} labels'} |"
            )
    return "\n".join(lines)
