"""MLflow records: one parent run per sweep, one child run per trial, each closed with its true status.

``SweepMLflowCallback`` extends Ray's ``MLflowLoggerCallback`` (which runs in the driver, so only one
process writes the tracking store) with what makes runs comparable in the MLflow UI: a name from the trial's
configuration and Optuna trial number (``records.names``); tags for the trial number, trial id, method, backbone
and data sets; the parent link; hyperparameters as params (sslsweep's bookkeeping as tags); the namespaced metrics
of every result in one batch, with each test score's gain over the untrained backbone (``gain/...``), never Tune's
counters; a finished trial's objective value as ``objective``, the one column that ranks finished trials; and the
end status: FINISHED (a trial ASHA stopped early too: ``sslsweep.outcome=pruned``, its name ending "pruned at
epoch N"), or FAILED with ``sslsweep.failure_reason``. A finished trial's per-trial files from its last checkpoint
(on a filesystem the driver reads) go with its run (``results.TRIAL_ARTIFACTS``): its frozen embeddings
(``embeddings/embeddings.parquet``) for the report's t-SNE maps, and on segmentation data its example prediction
(``examples/segmentation_example.npz``) for the report's "section | truth | prediction" figure.

None of a trial's records is written on Tune's event loop, where every write would hold back every trial's next
result (docs/measurements.md, "At a cluster's scale"): what makes a trial's run (``RunStart``: a new run with its tags and
params, or the earlier run a resumed trial carries on in) and what ends it (``RunEnd``: outcome, objective,
artifacts, status, several requests and uploads) are read from the trial there and queued, with every result, for
``RunWriter`` (``writer.py``) under the trial's id: its threads make the run, write a run's queued results in one
batch, and end the run after its results. The run's start and end times are when Tune started and ended the trial.
A result reaches the callback with its metrics packed (``results.for_tune``) and is recorded unpacked.
Tune may therefore save a trial as ended before its run is closed; a driver killed then leaves the run
open, and the resumed sweep's end closes it from the trial's last result, which Tune saved (``on_experiment_end``).
Each of Tune's experiment-state saves waits for the results queued (``get_state``; Tune writes its state file
just before, so a driver killed in that moment can still leave MLflow an epoch short of the state). The end of an
experiment (also on Ctrl-C) and the driver's exit wait for everything queued, and a write that failed is printed
as a warning naming its run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.tune.experiment import Trial
from ray.tune.integration.ray_train import CHECKPOINT_PATH_KEY as CHECKPOINT_PATH

from trainables.records.names import run_label
from trainables.records.results import (
    BASELINE_OF_KEY,
    EPOCH,
    NODE_ID,
    OBJECTIVE_METRIC,
    REPEAT_OF_KEY,
    TRAINING_SEED_KEY,
    TRIAL_ARTIFACTS,
    TRIAL_NUMBER_KEY,
    Outcome,
    failure_reason,
    gains,
    is_finite_number,
    is_recorded_metric,
    outcome,
    split_bookkeeping,
    unpacked,
)
from trainables.records.selection import creation_index
from trainables.records.tags import (
    BACKBONE_TAG,
    BASELINE_OF_TAG,
    CHECKPOINT_TAG,
    DOMAIN_TAG,
    DOWNSTREAM_DATA_TAG,
    FAILURE_REASON_TAG,
    METHOD_TAG,
    NODE_ID_TAG,
    OBJECTIVE_MODE_TAG,
    OBJECTIVE_TAG,
    OUTCOME_TAG,
    PARENT_RUN_ID_TAG,
    PRETEXT_DATA_TAG,
    PRUNED_AT_EPOCH_TAG,
    REPEAT_OF_TAG,
    RESUMED_TAG,
    ROLE_TAG,
    SWEEP_TAG,
    TEST_UNIT_TAG,
    TRAINING_SEED_TAG,
    TRIAL_ID_TAG,
    TRIAL_INDEX_TAG,
    TRIAL_NUMBER_TAG,
    Role,
    as_written,
    tag_column,
)
from trainables.searchspace import METHOD_PARAM, SweepSpec
from trainables.tracking.stores import MLFLOW_VARIABLE, redact, with_credentials
from trainables.tracking.writer import RunWriter, report_unwritten

# What tells apart two runs of the same hyperparameters (``_resumed_run``): a search trial's number, a final repeat's
# seed and trial, a supervised baseline's trial.
_IDENTITY_TAGS = (TRIAL_NUMBER_TAG, TRAINING_SEED_TAG, REPEAT_OF_TAG, BASELINE_OF_TAG)
FLUSH_WAIT_S = 120.0  # how long the end of an experiment waits for queued writes (a store that went away)
# A run's MLflow status by its trial's outcome; ``close_run`` ends interrupted and abandoned ones KILLED.
STATUS = {Outcome.FINISHED: "FINISHED", Outcome.PRUNED: "FINISHED", Outcome.FAILED: "FAILED"}


def sweep_tags(spec: SweepSpec) -> dict[str, str]:
    return {
        SWEEP_TAG: spec.name,
        METHOD_TAG: ", ".join(spec.method_names),  # a trial of a sweep across methods: its own (log_trial_start)
        DOMAIN_TAG: spec.domain.name,
        PRETEXT_DATA_TAG: spec.data.pretext.label(),
        DOWNSTREAM_DATA_TAG: spec.data.downstream.label(),
        OBJECTIVE_TAG: spec.objective.metric,
        OBJECTIVE_MODE_TAG: spec.objective.mode,
    }


def ensure_experiment(tracking_uri: str, name: str, artifact_location: str | None) -> str:
    """The experiment id; created with an absolute artifact location under ``artifact_location`` (MLflow's default
    for a local store is ./mlruns in the working directory), or, given None (a tracking server), where the server
    keeps artifacts."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = f"{artifact_location}/{name}" if artifact_location else None
    return client.create_experiment(name, artifact_location=location)


class SweepMLflowCallback(MLflowLoggerCallback):
    def __init__(self, spec: SweepSpec, tracking_uri: str, experiment_name: str, parent_run_id: str) -> None:
        super().__init__(tracking_uri=tracking_uri, experiment_name=experiment_name, tags=sweep_tags(spec))
        self.parent_run_id = parent_run_id
        self._checkpoint_paths: dict[Trial, str] = {}  # each trial's latest checkpoint directory
        self._node_ids: dict[Trial, str] = {}  # the Ray node each trial's rank 0 last reported from
        self._ended: set[str] = set()  # trial ids whose runs log_trial_end closed
        self._earlier_runs: dict[str, Any] = {}
        self._adopted: set[str] = set()
        self.searched = spec.searched_names()  # what a run's name shows (records.names)
        # A sweep across methods: a trial's config holds what was drawn; its run logs its method's defaults too.
        self._methods_spec = spec if spec.methods is not None else None
        self._names: dict[str, str] = {}  # run id -> run name, for naming repeats and baselines after their trial
        # The trials whose run this callback opened -> the run's name (for a pruned trial's new name); the writer
        # keeps each run under its trial's id. (Ray's base class keeps ``_trial_runs``, which this class leaves unused.)
        self._started: dict[Trial, str] = {}
        self._writer: RunWriter | None = None  # made in setup, with the credentials

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.tracking_uri)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A callback pickled by an older sslsweep (a sweep interrupted before an upgrade, resumed after it).
        self.__dict__.update(
            {"searched": [], "_names": {}, "_started": {}, "_methods_spec": None, "_writer": None, **state}
        )

    def __getstate__(self) -> dict[str, Any]:
        """Tune pickles its callbacks into ``tuner.pkl`` (shared storage, and a copy in Ray's session directory):
        the tracking URI goes there without its password, which ``setup`` reads back from the environment; the
        writer (a thread and its queue) stays in this process, ``setup`` makes a new one."""
        return {**self.__dict__, "tracking_uri": redact(self.tracking_uri), "_writer": None}

    def flush(self, timeout: float | None = FLUSH_WAIT_S) -> None:
        """Wait until every queued write is in the store (``RunWriter.flush``, at most ``timeout`` seconds); warn of
        each that failed or was still queued."""
        if self._writer is not None:
            report_unwritten(self._writer.flush(timeout))

    def setup(self, *args, **kwargs) -> None:
        self.tracking_uri = with_credentials(self.tracking_uri, MLFLOW_VARIABLE)
        if self._writer is None:  # one per callback (flushed at each experiment's end), made where Tune runs it
            self._writer = RunWriter(self.tracking_uri)
        super().setup(*args, **kwargs)
        self._started = {}  # this experiment's trials, as Ray's base class resets its ``_trial_runs``
        # Runs this parent already has: a resumed sweep (``tune.py --resume``) carries on in them.
        self._earlier_runs = {
            run.data.tags.get(TRIAL_ID_TAG): run for run in child_runs(self.client, self.parent_run_id)
        }
        self._names.update({run.info.run_id: run.info.run_name for run in self._earlier_runs.values()})
        self._adopted: set[str] = set()
        self._restored_ended: set[str] | None = None  # taken at Tune's first step (on_step_begin)

    def log_trial_start(self, trial: Trial) -> None:
        if trial in self._started:
            return
        params, bookkeeping = split_bookkeeping(trial.config)
        number = bookkeeping.get(TRIAL_NUMBER_KEY)
        tags = {
            **self.tags,
            PARENT_RUN_ID_TAG: self.parent_run_id,
            TRIAL_ID_TAG: trial.trial_id,
            TRIAL_INDEX_TAG: str(creation_index(trial.experiment_tag)),
            BACKBONE_TAG: str(trial.config.get("backbone", "")),
            ROLE_TAG: Role.TRIAL,
        }
        if number is not None:
            tags[TRIAL_NUMBER_TAG] = str(number)
        if TRAINING_SEED_KEY in bookkeeping:
            tags[TRAINING_SEED_TAG] = str(bookkeeping[TRAINING_SEED_KEY])
        if REPEAT_OF_KEY in bookkeeping:
            tags.update({ROLE_TAG: Role.REPEAT, REPEAT_OF_TAG: bookkeeping[REPEAT_OF_KEY]})
        if METHOD_PARAM in params:  # a trial of a sweep across methods
            tags[METHOD_TAG] = str(params[METHOD_PARAM])
            if self._methods_spec is not None:
                params = {METHOD_PARAM: params[METHOD_PARAM], **self._methods_spec.for_trial(params)[1]}
        if BASELINE_OF_KEY in bookkeeping:
            tags.update(
                {ROLE_TAG: Role.BASELINE, METHOD_TAG: "supervised", BASELINE_OF_TAG: bookkeeping[BASELINE_OF_KEY]}
            )
        name = run_label(trial.config, self.searched, self._names)
        resumed = self._resumed_run(trial, params, tags)
        start = RunStart(
            self.mlflow_util.experiment_id,
            name,
            as_written(tags),
            [Param(key, str(value)) for key, value in params.items()],
            int(time.time() * 1000),
            resumed,
        )

        def make(client: MlflowClient) -> str:
            run_id = start.make(client)
            self._names[run_id] = name  # a final repeat or baseline of this trial is named after it
            return run_id

        self._started[trial] = name
        self._writer.open(trial.trial_id, make, start.fill)

    def run_id(self, trial: Trial) -> str | None:
        """The id of a trial's run, once its creation is written (waited for); None where it could not be made."""
        if trial not in self._started or self._writer is None:
            return None
        self._writer.wait(trial.trial_id)
        return self._writer.run_id(trial.trial_id)

    def _resumed_run(self, trial: Trial, params: dict[str, Any], tags: dict[str, Any]) -> Any:
        """The run a trial of a resumed sweep carries on in: its own (same Tune trial id), or the open run of a trial
        the interrupted driver started after Tune last saved its state, which Tune has now created again with the
        same configuration and identity (same Optuna trial number, see ``OptunaStudySearcher``; a final repeat's
        seed and trial, a baseline's trial) under a new id. Chosen from the runs read at ``setup``; ``RunStart``
        reopens it."""
        run = self._earlier_runs.get(trial.trial_id)
        if run is None:
            wanted = {key: str(value) for key, value in params.items()}
            identity = {key: None if tags.get(key) is None else str(tags[key]) for key in _IDENTITY_TAGS}
            run = next(
                (
                    earlier
                    for earlier in self._earlier_runs.values()
                    if earlier.info.run_id not in self._adopted
                    and still_open(earlier)
                    and earlier.data.params == wanted
                    and all(earlier.data.tags.get(key) == value for key, value in identity.items())
                ),
                None,
            )
        if run is not None:
            self._adopted.add(run.info.run_id)
        return run

    def on_experiment_end(self, trials: list[Trial], **info) -> None:
        """Everything queued written, then: the runs of trials Tune left running (a Ctrl-C ends an experiment without
        ending them) closed KILLED with ``sslsweep.outcome = interrupted``, which ``tune.py --resume`` reopens; and,
        in a resumed sweep, the runs of trials the restored state calls ended (``on_step_begin``) that are still
        open (the interrupted driver was killed between saving such a trial as ended and writing its run's end),
        closed from the trial's last result, which Tune saved. A run still queued to be made when the wait for the
        writer ran out (``FLUSH_WAIT_S``) is made later and left open: ``tune.py --resume`` carries on in it."""
        self.flush()
        super().on_experiment_end(trials, **info)
        client = self.client
        for trial in self._started:
            run_id = self._writer.run_id(trial.trial_id)
            if trial.trial_id not in self._ended and run_id is not None:
                close_run(client, run_id, Outcome.INTERRUPTED)
        for trial in trials:
            earlier = self._earlier_runs.get(trial.trial_id)
            if (
                trial.trial_id in (self._restored_ended or ())
                and trial not in self._started
                and earlier is not None
                and earlier.info.run_id not in self._adopted
                and still_open(earlier)
            ):
                self._run_end(trial, earlier.info.run_name, failed=False).write(client, earlier.info.run_id)

    def on_step_begin(self, iteration: int, trials: list[Trial], **info) -> None:
        """The trials ended before Tune's first step: those of the restored experiment state (``--resume``), which
        Tune does not run again. Taken once, since Tune ends others without ``log_trial_end`` later (a Ctrl-C's
        cleanup stops a restored trial waiting for its process: TERMINATED, though it never ran here)."""
        if self._restored_ended is None:
            self._restored_ended = {trial.trial_id for trial in trials if trial.status == Trial.TERMINATED}

    def log_trial_result(self, iteration: int, trial: Trial, result: dict[str, Any]) -> None:
        # The epoch: a trial resumed from a checkpoint (a restarted worker group, ``--resume``) logs the epochs
        # after it again, at the same steps (the report keeps the later value).
        step = int(result.get(EPOCH) or result.get("training_iteration", iteration))
        now = int(time.time() * 1000)
        recorded = {key: value for key, value in unpacked(result).items() if is_recorded_metric(key, value)}
        metrics = [Metric(key, float(value), now, step) for key, value in {**recorded, **gains(recorded)}.items()]
        tags = []
        if result.get(NODE_ID) and self._node_ids.get(trial) != result[NODE_ID]:
            self._node_ids[trial] = result[NODE_ID]
            tags.append(RunTag(NODE_ID_TAG, str(result[NODE_ID])))
        if result.get(CHECKPOINT_PATH):  # the trial's latest checkpoint, for logging the best backbone
            self._checkpoint_paths[trial] = str(result[CHECKPOINT_PATH])
            tags.append(RunTag(CHECKPOINT_TAG, str(result[CHECKPOINT_PATH])))
        self._writer.log(trial.trial_id, metrics, tags)

    def log_trial_save(self, trial: Trial) -> None:
        # Trials that train in-process checkpoint through Tune itself (Ray Train trials report the path).
        if trial in self._started and trial.checkpoint is not None:
            self._checkpoint_paths[trial] = trial.checkpoint.path
            self._writer.log(trial.trial_id, [], [RunTag(CHECKPOINT_TAG, trial.checkpoint.path)])

    def log_trial_end(self, trial: Trial, failed: bool = False) -> None:
        """The trial's run closed with its outcome: read from the trial here, written after the run's queued results on
        the writer's thread (``RunEnd``), so that Tune's event loop waits for none of it."""
        if trial not in self._started:
            return
        self._ended.add(trial.trial_id)
        self._writer.close(trial.trial_id, self._run_end(trial, self._started[trial], failed).write)

    def get_state(self) -> dict | None:
        """Tune calls this at every experiment-state save, which records each trial's latest result and checkpoint:
        the results queued are written first, so that MLflow has what the saved state has (Tune writes its state file
        just before calling this: a driver killed in that moment can still leave MLflow an epoch short). Runs' ends
        may still be queued (``on_experiment_end`` finishes them)."""
        if self._writer is not None:
            report_unwritten(self._writer.flush(FLUSH_WAIT_S, results_only=True))
        return super().get_state()

    def _run_end(self, trial: Trial, name: str, failed: bool) -> RunEnd:
        result = trial.last_result or {}
        ended = outcome(result, failed)
        tags, metrics, artifacts, rename = [RunTag(OUTCOME_TAG, ended)], [], [], None
        objective = self.tags[OBJECTIVE_TAG]
        if ended == Outcome.FINISHED:
            if BASELINE_OF_KEY not in trial.config and is_finite_number(result.get(objective)):
                step = int(result.get(EPOCH) or 0)
                metrics.append(Metric(OBJECTIVE_METRIC, float(result[objective]), int(time.time() * 1000), step))
            # The trial's latest checkpoint: the one this driver saw reported or saved; else the path in the last
            # result (a trial Tune restored as ended, which never reported here); else Tune's own record of it.
            checkpoint = self._checkpoint_paths.get(trial) or result.get(CHECKPOINT_PATH)
            if checkpoint is None and trial.checkpoint is not None:
                checkpoint = trial.checkpoint.path
            if checkpoint:
                artifacts = [(Path(checkpoint, name), artifact_path) for name, artifact_path in TRIAL_ARTIFACTS.items()]
        elif ended == Outcome.FAILED:
            tags.append(RunTag(FAILURE_REASON_TAG, failure_reason(trial_error_text(trial), result)))
        elif ended == Outcome.PRUNED:
            # FINISHED in MLflow, whose UI draws KILLED and FAILED alike: the scheduler ended it as planned. Its
            # name says that it was pruned; its outcome tag and OBJECTIVE_METRIC (none) keep it off the ranking.
            pruned_at = str(result.get(EPOCH, ""))
            tags.append(RunTag(PRUNED_AT_EPOCH_TAG, pruned_at))
            rename = f"{name} pruned at epoch {pruned_at}".strip()
        return RunEnd(ended, tags, metrics, artifacts, rename, int(time.time() * 1000))


@dataclass(frozen=True)
class RunStart:
    """What makes a trial's run, read from the trial on Tune's event loop and written later (``make``, then
    ``fill``): a new run with its tags and params, started when Tune started the trial, or the earlier run a
    resumed trial carries on in, reopened (its end's tags removed, its tags and name renewed,
    ``sslsweep.resumed``)."""

    experiment_id: str
    name: str
    tags: dict[str, str]
    params: list[Param]
    started_at: int  # milliseconds since the epoch
    resumed: Any = None  # the earlier run (mlflow.entities.Run), or None for a new one

    def make(self, client: MlflowClient) -> str:
        """The run's id: a new run made with its tags, or the earlier run's."""
        if self.resumed is None:
            return client.create_run(
                self.experiment_id, start_time=self.started_at, tags=self.tags, run_name=self.name
            ).info.run_id
        return self.resumed.info.run_id

    def fill(self, client: MlflowClient, run_id: str) -> None:
        """Its params (a resumed sweep recognises a run the dead driver opened by its params, ``_resumed_run``);
        an earlier run reopened besides."""
        if self.resumed is None:
            client.log_batch(run_id, params=self.params)
            return
        for stale in (OUTCOME_TAG, FAILURE_REASON_TAG, PRUNED_AT_EPOCH_TAG):  # how it ended before: it goes on now
            if stale in self.resumed.data.tags:
                client.delete_tag(run_id, stale)
        client.update_run(run_id, status="RUNNING", name=self.name)
        tags = [RunTag(key, value) for key, value in {**self.tags, RESUMED_TAG: "true"}.items()]
        client.log_batch(run_id, params=self.params, tags=tags)


@dataclass(frozen=True)
class RunEnd:
    """What closes a trial's run, read from the trial on Tune's event loop and written later (``write``): its
    outcome and objective in one request, the trial's files from its last checkpoint (those that exist), a pruned
    trial's new name, and its status and end time (when Tune ended the trial), which are written once the outcome
    is, whether or not the files and name could be."""

    outcome: Outcome
    tags: list[RunTag]
    metrics: list[Metric]
    artifacts: list[tuple[Path, str]]  # (file, artifact directory)
    name: str | None
    ended_at: int  # milliseconds since the epoch

    def write(self, client: MlflowClient, run_id: str) -> None:
        # Without its outcome a closed run would drop out of the ranking unseen: it stays open instead (MLflow's
        # client retries a server's transient errors), and a failure is reported.
        client.log_batch(run_id, metrics=self.metrics, tags=self.tags)
        try:
            for path, artifact_path in self.artifacts:
                if path.is_file():
                    client.log_artifact(run_id, str(path), artifact_path)
            if self.name is not None:
                client.update_run(run_id, name=self.name)
        finally:
            client.set_terminated(run_id, status=STATUS[self.outcome], end_time=self.ended_at)


def child_runs(client: MlflowClient, parent_run_id: str) -> list:
    """Every child run of a sweep's parent run."""
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    return client.search_runs(
        [experiment_id], f"{tag_column(PARENT_RUN_ID_TAG)} = '{parent_run_id}'", max_results=50_000
    )


def still_open(run) -> bool:
    """A child run its trial did not end: RUNNING (the driver was killed) or closed by an interruption."""
    return run.info.status == "RUNNING" or run.data.tags.get(OUTCOME_TAG) == Outcome.INTERRUPTED


def close_run(client: MlflowClient, run_id: str, ended: str) -> None:
    """A run whose trial did not end on its own (``interrupted``, ``abandoned``): KILLED, with why."""
    client.set_tag(run_id, OUTCOME_TAG, ended)
    client.set_terminated(run_id, status="KILLED")


def trial_error_text(trial: Trial) -> str | None:
    """The traceback Tune kept of a trial that raised; None where it kept none. Tune writes it in the driver's
    staging directory and uploads it to the Ray storage later, so the staging copy is read first."""
    try:
        if trial.error_file and Path(trial.error_file).is_file():
            return Path(trial.error_file).read_text()
        return trial.get_error()
    except Exception:  # a missing error file must not break the sweep's bookkeeping
        return None


def start_parent_run(
    spec: SweepSpec,
    tracking_uri: str,
    experiment_id: str,
    search_space_text: str,
    extra_tags: dict[str, str] | None = None,
) -> str:
    client = MlflowClient(tracking_uri)
    run = client.create_run(
        experiment_id,
        run_name=f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}",
        tags=as_written(
            {
                **sweep_tags(spec),
                ROLE_TAG: Role.SWEEP,
                TEST_UNIT_TAG: spec.domain.evaluation_unit(spec.evaluation),
                **(extra_tags or {}),
            }
        ),
    )
    client.log_text(run.info.run_id, search_space_text, "searchspace.yaml")
    for key, value in {
        "method": ", ".join(spec.method_names),
        "trials": spec.budget.trials,
        "epochs": spec.budget.epochs,
        "workers_per_trial": spec.resources.workers,
        "seed": spec.seed,
        "scheduler": spec.scheduler.type,
    }.items():
        client.log_param(run.info.run_id, key, value)
    return run.info.run_id
