"""Sweeps read back from MLflow for cross-sweep reports: parent run, child runs, objective and its mode.

A report must be reproducible from the tracking store alone, for any set of sweeps, long after the sweeps
ended; so nothing here uses what a sweep process held in memory. ``resolve_sweeps`` turns what a user types
(sweep names, parent run ids, MLflow filter strings) into ``SweepRuns``: the sweep's parent run and its child
runs as one tidy ``mlflow.search_runs`` frame with a few convenience columns. ``metric_histories`` reads the
per-epoch series (loss curves) that ``search_runs`` reduces to their last value.

The objective's mode (max or min) is the parent run's tag ``sslsweep.objective_mode``. Sweeps recorded
before that tag existed have the search-space file as given (artifact ``searchspace.yaml``,
``mlflow_callback.start_parent_run``); the mode is then read from that file (``objective.mode``, whose
default is ``max``). Only where both are missing is it assumed: ``min`` for ``train/...`` objectives
(losses), ``max`` for everything else (accuracies, F1, IoU, RankMe).
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import mlflow
import pandas as pd
import yaml
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.store.tracking.rest_store import RestStore
from mlflow.tracking import MlflowClient
from mlflow.utils.rest_utils import http_request, verify_rest_response

from trainables.records.results import Outcome
from trainables.records.selection import best_first
from trainables.records.tags import (
    BACKBONE_TAG,
    METHOD_TAG,
    OBJECTIVE_MODE_TAG,
    OBJECTIVE_TAG,
    OUTCOME_TAG,
    PARENT_RUN_ID_TAG,
    REPEAT_OF_TAG,
    ROLE_TAG,
    SWEEP_TAG,
    TRIAL_ID_TAG,
    TRIAL_INDEX_TAG,
    TRIAL_NUMBER_TAG,
    Role,
    tag_column,
)
from trainables.searchspace import METHOD_PARAM
from trainables.tracking.stores import redact

SEARCH_SPACE_ARTIFACT = "searchspace.yaml"
# trainables.searchspace.ObjectiveSpec.mode's default: what a sweep used when its file set no mode. Not imported from
# there: the search-space schema loads every domain (and torch) only to read one literal.
DEFAULT_OBJECTIVE_MODE = "max"

# An MLflow filter string holds a comparison; a sweep name or a run id never does. Word operators count
# only between spaces, so a name such as "train-in-lab" stays a name.
_FILTER_OPERATOR = re.compile(r"!=|<=|>=|=|<|>|\s(?:I?LIKE|IN)\s", re.IGNORECASE)
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class ReportError(ValueError):
    """A report that cannot be built; the message is one line naming what was asked and what exists."""


@dataclass(frozen=True)
class SweepRuns:
    """One sweep as MLflow recorded it.

    ``runs`` is ``mlflow.search_runs``'s frame of the parent's child runs (``run_id``, ``status``,
    ``params.*``, ``metrics.*``, ``tags.*``; a metric column holds the run's last value), ordered by Tune's
    creation counter, plus ``sweep``, ``method``, ``backbone``, ``role`` (``trial`` where untagged), ``outcome``
    (finished / pruned / failed, NaN while a run has not ended) and ``trial`` (``#<Optuna trial number>``, or
    Tune's trial id for runs without one).
    """

    name: str
    parent_run_id: str
    parent_run_name: str
    experiment_id: str
    tags: dict[str, str]
    params: dict[str, str]
    objective: str
    mode: str
    mode_source: str  # "tag sslsweep.objective_mode", "searchspace.yaml" or "assumed"
    search_space_text: str | None  # the search-space file as logged (comments kept); None when missing
    runs: pd.DataFrame = field(repr=False)

    @cached_property
    def search_space(self) -> dict | None:
        """The logged search-space file, parsed; None when it was not logged or does not parse."""
        return _parsed_mapping(self.search_space_text)

    @property
    def method(self) -> str:
        return self.tags.get(METHOD_TAG, "")

    @property
    def objective_column(self) -> str:
        return f"metrics.{self.objective}"

    @property
    def searched(self) -> list[str]:
        """The searched hyperparameters in the file's order; without the file, params that vary across trials."""
        space = self.search_space or {}
        methods = space.get("methods")
        if isinstance(methods, dict):  # a sweep across methods: the method, the shared ones, then each one's own
            own = [key for choice in methods.values() if isinstance(choice, dict) for key in choice.get("search") or {}]
            return list(dict.fromkeys([METHOD_PARAM, *(space.get("search") or {}), *own]))
        if isinstance(space.get("search"), dict):
            return list(space["search"])
        params = self.trials.filter(regex=r"^params\.")
        varying = params.columns[params.nunique(dropna=True) > 1]
        return sorted(column.removeprefix("params.") for column in varying)

    @property
    def trials(self) -> pd.DataFrame:
        """Search trials (not repeats or supervised baselines), in creation order."""
        return self.runs[self.runs["role"] == Role.TRIAL]

    @property
    def finished_trials(self) -> pd.DataFrame:
        """Finished search trials, best first (selection.py's rule: objective, then creation)."""
        return best_first(self.trials[self.trials["outcome"] == Outcome.FINISHED], self.objective_column, self.mode)

    @property
    def repeats(self) -> pd.DataFrame:
        return self.runs[self.runs["role"] == Role.REPEAT]

    @property
    def baselines(self) -> pd.DataFrame:
        return self.runs[self.runs["role"] == Role.BASELINE]

    def finished_repeats_of(self, run_id: str) -> pd.DataFrame:
        """The finished final repeats (other training seeds) of one trial."""
        repeats = self.repeats
        if tag_column(REPEAT_OF_TAG) not in repeats:
            return repeats.iloc[0:0]
        return repeats[(repeats[tag_column(REPEAT_OF_TAG)] == run_id) & (repeats["outcome"] == Outcome.FINISHED)]


@contextmanager
def tracking_uri_set_to(tracking_uri: str):
    """``mlflow.search_runs`` reads the global tracking URI; set it for one call and put the old one back."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def _search(tracking_uri: str, filter_string: str, experiment_ids: list[str] | None = None) -> pd.DataFrame:
    with tracking_uri_set_to(tracking_uri):
        return mlflow.search_runs(
            experiment_ids,
            filter_string=filter_string,
            output_format="pandas",
            search_all_experiments=experiment_ids is None,
        )


def parent_runs(tracking_uri: str, filter_string: str = "") -> pd.DataFrame:
    """Every sweep's parent run (role ``sweep``) in every experiment, optionally narrowed by a filter."""
    condition = f"{tag_column(ROLE_TAG)} = '{Role.SWEEP}'" + (f" and {filter_string}" if filter_string else "")
    parents = _search(tracking_uri, condition)
    if tag_column(SWEEP_TAG) not in parents:  # no parent at all: the frame has no tag columns
        parents[tag_column(SWEEP_TAG)] = pd.Series(dtype="object")
    return parents


def sweep_names(tracking_uri: str) -> list[str]:
    parents = parent_runs(tracking_uri)
    return sorted(parents[tag_column(SWEEP_TAG)].dropna().unique())


def is_filter(selector: str) -> bool:
    return bool(_FILTER_OPERATOR.search(selector))


def resolve_sweeps(tracking_uri: str, selectors: list[str]) -> list[SweepRuns]:
    """The sweeps the selectors name, in the order given (each once), read from MLflow.

    A selector is
    - a sweep name (tag ``sslsweep.sweep`` of a parent run, in any experiment). A sweep run again under the
      same name has several parent runs: the latest (by start time) is taken; give an older one's run id to
      report it instead;
    - a parent run id (32 hex digits);
    - an MLflow filter string over parent runs, recognised by its operator (``=``, ``!=``, ``<``, ``>``,
      ``LIKE``, ``ILIKE``, ``IN``), e.g. ``tags.sslsweep.method = 'lfr'``: every sweep it matches, the latest
      parent run of each sweep name.
    Raises ``ReportError`` for a selector that matches nothing (naming it and the sweeps that exist) and for
    sweeps without a finished search trial (naming them): there is nothing to select from.
    """
    if not selectors:
        raise ReportError(f"no sweep selected; sweeps in {redact(tracking_uri)}: {_listing(tracking_uri)}")
    chosen: dict[str, pd.Series] = {}
    for selector in selectors:
        for parent in _select_parents(tracking_uri, selector):
            chosen.setdefault(parent["run_id"], parent)
    sweeps = [_read_sweep(tracking_uri, parent) for parent in chosen.values()]
    empty = [
        f"'{sweep.name}' (parent run {sweep.parent_run_id}: {_outcome_counts(sweep)})"
        for sweep in sweeps
        if sweep.finished_trials.empty
    ]
    if empty:
        raise ReportError(f"no finished trial to select from in sweep {', '.join(empty)}")
    return sweeps


def _select_parents(tracking_uri: str, selector: str) -> list[pd.Series]:
    selector = selector.strip()
    if is_filter(selector):
        try:
            parents = parent_runs(tracking_uri, selector)
        except MlflowException as error:
            raise ReportError(
                f"selector {selector!r} is not a valid MLflow filter: {str(error.message).splitlines()[0]}"
            ) from None
    else:
        parents = parent_runs(tracking_uri)
        if len(parents):
            by_id = parents[parents["run_id"] == selector]
            parents = by_id if len(by_id) else parents[parents[tag_column(SWEEP_TAG)] == selector]
    if parents.empty:
        raise ReportError(
            f"no sweep matches {selector!r}{_child_hint(tracking_uri, selector)}; sweeps in "
            f"{redact(tracking_uri)}: {_listing(tracking_uri)}"
        )
    # Latest parent run of each sweep name; the run id breaks start-time ties so the choice is repeatable.
    latest = parents.sort_values(["start_time", "run_id"], ascending=False, kind="stable")
    latest = latest.drop_duplicates(tag_column(SWEEP_TAG), keep="first")
    return [row for _, row in latest.sort_values(tag_column(SWEEP_TAG), kind="stable").iterrows()]


def _child_hint(tracking_uri: str, selector: str) -> str:
    """Where a run id names a trial rather than a sweep, say whose trial it is."""
    if not _RUN_ID.match(selector):
        return ""
    try:
        tags = MlflowClient(tracking_uri).get_run(selector).data.tags
    except MlflowException:
        return ""
    return f" (run {selector} is a {tags.get(ROLE_TAG, 'run')} of sweep '{tags.get(SWEEP_TAG, '?')}', not its parent)"


def _listing(tracking_uri: str) -> str:
    names = sweep_names(tracking_uri)
    return ", ".join(names) if names else "none"


def _outcome_counts(sweep: SweepRuns) -> str:
    trials = sweep.trials
    if trials.empty:
        return "no trial runs"
    counts = trials["outcome"].fillna("unended").value_counts().sort_index()
    return ", ".join(f"{count} {outcome}" for outcome, count in counts.items())


def _read_sweep(tracking_uri: str, parent: pd.Series) -> SweepRuns:
    client = MlflowClient(tracking_uri)
    run = client.get_run(parent["run_id"])
    tags, params = dict(run.data.tags), dict(run.data.params)
    name = tags.get(SWEEP_TAG, run.info.run_name)
    objective = tags.get(OBJECTIVE_TAG, "")
    search_space_text = _search_space_text(tracking_uri, run.info.run_id)
    search_space = _parsed_mapping(search_space_text)
    if tags.get(OBJECTIVE_MODE_TAG) in ("max", "min"):
        mode, mode_source = tags[OBJECTIVE_MODE_TAG], f"tag {OBJECTIVE_MODE_TAG}"
    elif search_space is not None:
        mode = (search_space.get("objective") or {}).get("mode", DEFAULT_OBJECTIVE_MODE)
        mode_source = SEARCH_SPACE_ARTIFACT
    else:
        mode = "min" if objective.startswith("train/") else DEFAULT_OBJECTIVE_MODE
        mode_source = "assumed"
    runs = child_runs_frame(tracking_uri, run.info.experiment_id, run.info.run_id, name, tags.get(METHOD_TAG, ""))
    return SweepRuns(
        name=name,
        parent_run_id=run.info.run_id,
        parent_run_name=run.info.run_name,
        experiment_id=run.info.experiment_id,
        tags=tags,
        params=params,
        objective=objective,
        mode=mode,
        mode_source=mode_source,
        search_space_text=search_space_text,
        runs=runs,
    )


def _search_space_text(tracking_uri: str, run_id: str) -> str | None:
    """The parent run's logged search-space file; None when it was not logged or cannot be read."""
    with tempfile.TemporaryDirectory() as directory:
        path = download_artifact(tracking_uri, run_id, SEARCH_SPACE_ARTIFACT, directory)
        try:
            return path.read_text() if path is not None else None
        except (OSError, UnicodeDecodeError):
            return None


def _parsed_mapping(text: str | None) -> dict | None:
    try:
        parsed = yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:
        return None
    return parsed if isinstance(parsed, dict) else None


def download_artifact(tracking_uri: str, run_id: str, artifact_path: str, directory: str) -> Path | None:
    """One artifact of a run, downloaded into ``directory`` (from any artifact store MLflow reaches: local, S3,
    an MLflow server), or None where the run has no such artifact."""
    # Without this MLflow draws a progress bar per file, a line of noise per downloaded artifact.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        return Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=artifact_path, dst_path=directory, tracking_uri=tracking_uri
            )
        )
    except (MlflowException, OSError):
        return None


def child_runs_frame(
    tracking_uri: str, experiment_id: str, parent_run_id: str, sweep: str, method: str
) -> pd.DataFrame:
    """The parent's child runs with the convenience columns, in creation order (then start time, run id)."""
    runs = _search(tracking_uri, f"{tag_column(PARENT_RUN_ID_TAG)} = '{parent_run_id}'", [experiment_id])

    def column(name: str) -> pd.Series:
        return runs[name] if name in runs else pd.Series(pd.NA, index=runs.index, dtype="object")

    runs = runs.assign(
        sweep=sweep,
        method=column(tag_column(METHOD_TAG)).fillna(method),
        backbone=column("params.backbone").fillna(column(tag_column(BACKBONE_TAG))),
        role=column(tag_column(ROLE_TAG)).fillna(Role.TRIAL),
        outcome=column(tag_column(OUTCOME_TAG)),
        # What the report calls a trial: Optuna's trial number ("#5", as in its run's name), else Tune's trial id.
        trial=("#" + column(tag_column(TRIAL_NUMBER_TAG)).astype("string")).fillna(
            column(tag_column(TRIAL_ID_TAG)).astype("string")
        ),
        _created=pd.to_numeric(column(tag_column(TRIAL_INDEX_TAG)), errors="coerce"),
    )
    order = [name for name in ("_created", "start_time", "run_id") if name in runs]
    return runs.sort_values(order, kind="stable", na_position="last").drop(columns="_created").reset_index(drop=True)


# The bulk history read (one request per key and up to 100 runs; MLflow's UI charts with it) and its limits on a
# tracking server (mlflow.server.handlers: 100 runs a request, 2,500 values a run; a run with more values comes back
# evenly sampled, first and last kept).
BULK_HISTORY_ENDPOINT = "/api/2.0/mlflow/metrics/get-history-bulk-interval"
HISTORY_RUNS_PER_QUERY = 100
HISTORY_STEPS_PER_RUN = 2500


def metric_histories(tracking_uri: str, run_ids: list[str], keys: list[str]) -> pd.DataFrame:
    """Every logged value of the given metrics of the given runs (up to ``HISTORY_STEPS_PER_RUN`` a run, evenly
    sampled beyond), long: ``run_id``, ``key``, ``step``, ``value`` (ordered by run as given, key as given, then
    step); a run without a key contributes no rows. A step logged twice (a resumed trial repeats the epochs after its
    last checkpoint) keeps its later value.

    One query per key and ``HISTORY_RUNS_PER_QUERY`` runs, not one per run and key: a report over a sweep of
    hundreds of trials draws every pruned trial's curve."""
    client = MlflowClient(tracking_uri)
    rows = [
        (run_id, key, step, value, timestamp)
        for key in keys
        for start in range(0, len(run_ids), HISTORY_RUNS_PER_QUERY)
        for run_id, step, value, timestamp in _bulk_history(
            client, run_ids[start : start + HISTORY_RUNS_PER_QUERY], key
        )
    ]
    frame = pd.DataFrame(rows, columns=["run_id", "key", "step", "value", "timestamp"])
    frame = frame.assign(
        run_id=pd.Categorical(frame["run_id"], categories=list(dict.fromkeys(run_ids)), ordered=True),
        key=pd.Categorical(frame["key"], categories=list(dict.fromkeys(keys)), ordered=True),
    ).sort_values(["run_id", "key", "step", "timestamp"], kind="stable")
    frame = frame.drop_duplicates(["run_id", "key", "step"], keep="last").drop(columns="timestamp")
    return frame.astype({"run_id": str, "key": str}).reset_index(drop=True)


def _bulk_history(client: MlflowClient, run_ids: list[str], key: str) -> list[tuple[str, int, float, int]]:
    """(run id, step, value, timestamp) of ``key`` for these runs in one read: the server's bulk endpoint through a
    tracking server (MLflow's RestStore has no bulk read of its own: it would ask per run), the store's bulk query
    on a database; else per run."""
    store = client._tracking_client.store  # the bulk reads are the store's and the server's, not the client's
    if isinstance(store, RestStore):
        response = http_request(
            store.get_host_creds(),
            BULK_HISTORY_ENDPOINT,
            "GET",
            params={"run_ids": run_ids, "metric_key": key, "max_results": HISTORY_STEPS_PER_RUN},
        )
        verify_rest_response(response, BULK_HISTORY_ENDPOINT)
        return [
            (m["run_id"], int(m.get("step", 0)), float(m["value"]), int(m.get("timestamp", 0)))
            for m in response.json().get("metrics", [])
        ]
    if type(store).get_metric_history_bulk_interval is not AbstractStore.get_metric_history_bulk_interval:
        metrics = store.get_metric_history_bulk_interval(run_ids, key, HISTORY_STEPS_PER_RUN, None, None)
        return [(m.run_id, m.step, m.value, m.timestamp) for m in metrics]
    return [
        (run_id, m.step, m.value, m.timestamp) for run_id in run_ids for m in client.get_metric_history(run_id, key)
    ]
