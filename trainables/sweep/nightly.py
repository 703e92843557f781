"""Nightly sweeps: a named list of sweeps run one after another, each compared with its previous nightly run.

    python tune.py nightly schedules/nightly.yaml [--date 2026-11-23]

The nightly file names the sweeps (search-space files, validated before Ray starts, like any sweep), an
optional budget override for all of them, and the tolerance of the regression check::

    name: nightly
    sweeps: [../searchspaces/barlow.yaml, ../searchspaces/vicreg.yaml]   # relative to this file
    budget: {trials: 4, epochs: 6}              # optional, for every sweep
    tolerance: 0.02                             # how far a score may fall before it is a regression

Each sweep runs as usual (its own MLflow parent run and report) with its parent run tagged
``sslsweep.nightly = <date>`` (``records.tags.NIGHTLY_TAG``), so ``tune.py report --nightly <date>`` finds the
group later. Then ``regression_table`` compares each sweep's best validation objective and the selected trial's
test score with the latest earlier nightly run of the same sweep name, and the whole night is reported in
``reports/nightly-<date>/`` (the cross-sweep report with the regression table first) and on MLflow. The command
exits 1 when a sweep failed or any score regressed beyond the tolerance, 0 otherwise, 2 on a bad file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trainables.records.tags import NIGHTLY_TAG, SWEEP_TAG, tag_column
from trainables.report.sweep_answer import selected_trial
from trainables.report.tables import HEADLINE_METRICS, METRIC_LABELS, report_protocol, select
from trainables.searchspace import SearchSpaceError, one_line, parse_yaml, read_searchspace_text
from trainables.tracking.runs import ReportError, SweepRuns, parent_runs, resolve_sweeps


class NightlyError(ValueError):
    """A nightly file that cannot run; one line naming the file, the field and what was expected."""


_NIGHTLY_CONTENTS = "a mapping with 'sweeps' (a list of search-space files)"


class NightlyBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trials: int | None = Field(default=None, ge=1)
    epochs: int | None = Field(default=None, ge=1)


class NightlySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "nightly"
    sweeps: list[str] = Field(min_length=1)
    budget: NightlyBudget = NightlyBudget()
    tolerance: float = Field(default=0.02, ge=0)


@dataclass(frozen=True)
class NightlyPlan:
    spec: NightlySpec
    path: Path
    sweep_files: list[Path]


def load_nightly(path: str | Path) -> NightlyPlan:
    """Read and validate a nightly file (not the sweeps it names: ``tune.py`` loads each as a search space)."""
    path = Path(path)
    try:  # the search-space reader's bounds: a regular UTF-8 file of at most 256 KiB, plain bounded YAML
        raw = parse_yaml(path, read_searchspace_text(path, kind="nightly", contents=_NIGHTLY_CONTENTS))
    except SearchSpaceError as error:
        raise NightlyError(one_line(str(error))) from None
    if not isinstance(raw, dict):
        raise NightlyError(one_line(f"{path}: expected {_NIGHTLY_CONTENTS}"))
    try:
        spec = NightlySpec(**raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise NightlyError(one_line(f"{path}: {where}: {first['msg'].removeprefix('Value error, ')}")) from None
    files = [_absolute(path.parent / name) for name in spec.sweeps]
    # Only what is not there at all: a directory, a FIFO or a symlink loop is named by the search-space reader.
    missing = [name for name, file in zip(spec.sweeps, files) if not os.path.lexists(file)]
    if missing:
        raise NightlyError(
            one_line(f"{path}: sweeps: no such search-space file {', '.join(missing)} (relative to {path.parent})")
        )
    return NightlyPlan(spec, path, files)


def _absolute(file: Path) -> Path:
    try:
        return file.resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13), refused when it is read
        return file.absolute()


# ------------------------------------------------------------------------------------------------ regression


def previous_nightly(tracking_uri: str, sweep: str, date: str) -> SweepRuns | None:
    """The latest nightly run of ``sweep`` tagged with a date before ``date`` that finished a trial (a failed
    night has no scores to compare with; the one before it is taken), or None."""
    parents = parent_runs(tracking_uri, f"{tag_column(SWEEP_TAG)} = '{sweep}'")
    column = tag_column(NIGHTLY_TAG)
    if column not in parents:
        return None
    earlier = parents[parents[column].notna() & (parents[column] < date)]
    for _, parent in earlier.sort_values([column, "start_time", "run_id"], ascending=False, kind="stable").iterrows():
        try:
            (previous,) = resolve_sweeps(tracking_uri, [parent["run_id"]])
        except ReportError:  # no finished trial that night
            continue
        return previous
    return None


def headline_scores(sweep: SweepRuns) -> dict[str, float]:
    """The sweep's best validation objective and the selected trial's test headline score (accuracy or mIoU of
    the report's protocol at its headline fraction, the fewest labels evaluated: ``Selected.headline_fraction``)."""
    best = sweep.finished_trials.iloc[0]
    scores = {f"validation {sweep.objective}": float(best[sweep.objective_column])}
    selection = selected_trial(sweep, select([sweep]))
    if selection is not None and selection.headline_fraction is not None:
        metric = HEADLINE_METRICS[selection.task][0]
        fraction = selection.headline_fraction
        cell = selection.test(metric, fraction)
        if cell.n:
            scores[f"test {METRIC_LABELS[metric]} ({report_protocol(sweep)}, {fraction * 100:g} %)"] = cell.mean
    return scores


def regression_table(
    tracking_uri: str, current: dict[str, SweepRuns | None], date: str, tolerance: float
) -> pd.DataFrame:
    """One row per sweep and score: this night's value, the previous nightly run's (and its date), the change,
    and the verdict: ``ok``, ``regressed`` (worse by more than ``tolerance`` in the objective's direction; test
    scores are higher-is-better), ``failed`` (no finished trial tonight) or ``new`` (no earlier nightly run)."""
    rows = []
    for name, sweep in current.items():
        previous = previous_nightly(tracking_uri, name, date)
        before = headline_scores(previous) if previous is not None else {}
        when = previous.tags.get(NIGHTLY_TAG, "") if previous is not None else ""
        if sweep is None or sweep.finished_trials.empty:
            rows.append(
                {
                    "sweep": name,
                    "score": "",
                    "previous night": when,
                    "previous": math.nan,
                    "tonight": math.nan,
                    "change": math.nan,
                    "verdict": "failed",
                }
            )
            continue
        for score, value in headline_scores(sweep).items():
            old = before.get(score, math.nan)
            lower_is_better = score.startswith("validation ") and sweep.mode == "min"
            change = value - old
            worse = -change if not lower_is_better else change
            verdict = "new" if math.isnan(old) else "regressed" if worse > tolerance else "ok"
            rows.append(
                {
                    "sweep": name,
                    "score": score,
                    "previous night": when,
                    "previous": old,
                    "tonight": value,
                    "change": change,
                    "verdict": verdict,
                }
            )
    return pd.DataFrame(rows, columns=["sweep", "score", "previous night", "previous", "tonight", "change", "verdict"])


def regression_markdown_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The regression table as text: scores to 3 decimals, the change signed, missing values empty."""
    shown = table.copy()
    for column in ("previous", "tonight"):
        shown[column] = table[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    shown["change"] = table["change"].map(lambda v: "" if pd.isna(v) else f"{round(v, 3) + 0.0:+.3f}")
    return shown.astype(str)


def night_failed(table: pd.DataFrame) -> bool:
    return bool(table["verdict"].isin(["failed", "regressed"]).any())
