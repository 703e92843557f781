"""Interrupted sweeps and ``tune.py --resume``: what a sweep leaves behind when it stops early, and how it carries on.

A sweep is interrupted by a Ctrl-C (SIGINT; Tune saves its experiment state and stops the running trials) or by
its driver dying (SIGKILL, a lost head node: nothing is closed). Either way the record stays true:

- the parent run ends KILLED (a dead driver leaves it RUNNING), its open child runs KILLED with
  ``sslsweep.outcome = interrupted`` (``close_open_child_runs``);
- ``python tune.py <file> --resume`` finds the sweep's latest parent run that did not finish
  (``find_interrupted_sweep``), reopens it, and restores Tune's experiment from ``SSLSWEEP_RAY_STORAGE``: trials
  that had finished are not rerun, unfinished trials carry on from their last checkpoint, in their own MLflow runs
  (``SweepMLflowCallback`` reopens a run by trial id), and the Optuna study continues with the searcher Tune saved
  (``OptunaStudySearcher.restore``: points asked for after that save are run, not asked for again).

Ray can also stop the search itself: Ray 2.60's Tune ends ``fit`` with an error when Ray's memory monitor kills a
trial's process (and, by the same code, when a node or worker process dies under a task Tune waits on:
``_actor_task_failed`` handles only actor and task errors). The MLflow records are then closed as after a Ctrl-C,
the parent run ends FAILED, and the sweep ends with one line naming what Ray reported and the command that carries
it on (``SweepStopped``). Tune saves no state on that way out, so ``--resume`` starts from its last periodic save,
as after a killed driver.

Trials that crashed (an exception, a dead process, after ``resources.max_failures`` restarts within the sweep)
are resumed from their checkpoints too, in their own MLflow runs; in Optuna the crash stays FAIL and the trial
carries on as a retry of the same point (``searcher.py``). Trials sslsweep failed itself (a NaN loss, a
collapse) ended normally with their reason and are not rerun. A run the dead driver opened for a trial Tune never
saved, which no resumed trial carried on, ends KILLED as ``abandoned`` (``close_open_child_runs``); a run whose
trial Tune had saved as ended before the driver wrote the run's end is closed from the trial's saved last result
(``SweepMLflowCallback.on_experiment_end``).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow.tracking import MlflowClient

from trainables.records.tags import (
    OPTUNA_STUDY_TAG,
    PARENT_RUN_ID_TAG,
    RESUMES_TAG,
    ROLE_TAG,
    TRIAL_ID_TAG,
    Role,
    tag_column,
)
from trainables.searchspace import SweepSpec
from trainables.tracking.mlflow_callback import child_runs, close_run, still_open
from trainables.tracking.stores import Stores, redact
from trainables.tracking.writer import closing_runs

if TYPE_CHECKING:
    from ray import tune


class ResumeError(ValueError):
    """``--resume`` has nothing to resume (one line, exit 2, nothing started)."""


class SweepInterrupted(Exception):
    """The sweep stopped before its end; its records are closed and it can be resumed."""

    def __init__(self, parent_run_id: str, resume_command: str) -> None:
        super().__init__(
            f"sweep interrupted: parent run {parent_run_id} is KILLED, its unfinished trials "
            f"closed; to carry on:\n    {resume_command}"
        )
        self.parent_run_id = parent_run_id
        self.resume_command = resume_command


class SweepStopped(Exception):
    """Ray stopped the search (``ray_stop_reason``); the records are closed where the store allowed it, and the
    sweep can be resumed."""

    def __init__(self, parent_run_id: str, reason: RayStopReason, resume_command: str, closed: bool) -> None:
        trials = "its unfinished trials closed" if closed else "its unfinished trials not closed (--resume closes them)"
        advice = f"; {reason.advice}" if reason.advice else ""
        super().__init__(
            f"sweep stopped: Ray: {reason.reported}; parent run {parent_run_id} is FAILED, {trials}{advice}; "
            f"to carry on:\n    {resume_command}"
        )
        self.parent_run_id = parent_run_id
        self.resume_command = resume_command


@dataclass(frozen=True)
class RayStopReason:
    reported: str  # the first line of Ray's error (``--verbose`` prints all of it)
    advice: str  # what to do about it before resuming; empty where there is nothing to say


def ray_stop_reason(error: BaseException) -> RayStopReason | None:
    """Where ``error`` (or what caused it) is Ray losing processes under the sweep: its memory monitor killing
    workers (seen), a node or a worker process dying (the same path in Tune; not seen); None for anything else."""
    from ray.exceptions import NodeDiedError, OutOfMemoryError, WorkerCrashedError

    advice = {
        OutOfMemoryError: (
            "reserve what a trial uses (resources.memory_gib_per_worker) so that Ray starts only the trials a node "
            "holds, or run fewer at once (budget.max_concurrent)"
        ),
        NodeDiedError: "resume once the cluster has its nodes back",
        WorkerCrashedError: "",
    }
    seen: BaseException | None = error
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        for kind, what_to_do in advice.items():
            if isinstance(seen, kind):
                text = str(seen).strip()
                return RayStopReason(text.splitlines()[0] if text else kind.__name__, what_to_do)
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass(frozen=True)
class InterruptedSweep:
    parent_run_id: str
    study_name: str  # also the name of Tune's experiment directory under SSLSWEEP_RAY_STORAGE
    experiment_path: str | None  # None: interrupted before Tune first saved its state (no trial had started)
    resumes: int  # how many times it was resumed before


def resume_command(spec: SweepSpec, spec_path: Path) -> str:
    """The command that carries this sweep on: its file, the budget it ran with where the file's differs."""
    from trainables.searchspace import load_sweep

    try:
        written = load_sweep(spec_path).budget
    except Exception:  # noqa: BLE001 - the file changed since; state the budget
        written = None
    overrides = [
        f"--{name} {getattr(spec.budget, name)}"
        for name in ("trials", "epochs")
        if written is None or getattr(written, name) != getattr(spec.budget, name)
    ]
    return " ".join(["python tune.py", shlex.quote(str(spec_path)), *overrides, "--resume"])


def find_interrupted_sweep(spec: SweepSpec, spec_path: Path, stores: Stores) -> InterruptedSweep:
    """The latest parent run of ``spec.name`` when it did not finish, and Tune's saved experiment for it; the
    sweep recorded there must be the one ``spec`` describes (same file, same budget)."""
    from ray import tune

    client = MlflowClient(stores.mlflow_uri)
    experiment = client.get_experiment_by_name(f"sslsweep/{spec.name}")
    parents = (
        []
        if experiment is None
        else client.search_runs(
            [experiment.experiment_id],
            f"{tag_column(ROLE_TAG)} = '{Role.SWEEP}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    )
    if not parents:
        raise ResumeError(
            f"{spec_path}: --resume: no sweep named {spec.name!r} in {redact(stores.mlflow_uri)}; "
            f"expected one started before (run it without --resume)"
        )
    parent = parents[0]
    if parent.info.status == "FINISHED":
        raise ResumeError(
            f"{spec_path}: --resume: the latest sweep {spec.name!r} (parent run {parent.info.run_id}) "
            f"finished; expected an interrupted one (run it without --resume for a new sweep)"
        )
    study_name = parent.data.tags.get(OPTUNA_STUDY_TAG)
    if not study_name:  # interrupted before it named its study: nothing ran
        raise ResumeError(
            f"{spec_path}: --resume: sweep {spec.name!r} (parent run {parent.info.run_id}) stopped "
            f"before its search began; expected an interrupted search (run it without --resume)"
        )
    if spec.searches and study_name not in _study_names(stores.optuna_url):
        raise ResumeError(
            f"{spec_path}: --resume: sweep {spec.name!r} (parent run {parent.info.run_id}) searched "
            f"with Optuna study {study_name!r}, which is not in {redact(stores.optuna_url)}; expected "
            f"SSLSWEEP_OPTUNA_STORAGE set as when it ran (with its password)"
        )
    experiment_path = f"{stores.ray_storage.rstrip('/')}/{study_name}"
    saved = tune.Tuner.can_restore(experiment_path)
    if not saved and client.search_runs(
        [experiment.experiment_id], f"{tag_column(PARENT_RUN_ID_TAG)} = '{parent.info.run_id}'", max_results=1
    ):
        raise ResumeError(
            f"{spec_path}: --resume: Tune saved no state for sweep {spec.name!r} (parent run "
            f"{parent.info.run_id}) at {redact(experiment_path)}; expected the SSLSWEEP_RAY_STORAGE it "
            f"ran with"
        )
    recorded = _recorded_spec(client, parent)
    if recorded is not None and recorded != spec.model_dump(mode="json"):
        raise ResumeError(
            f"{spec_path}: --resume: the file or --trials/--epochs differ from what sweep "
            f"{spec.name!r} (parent run {parent.info.run_id}) started with; expected the same"
        )
    return InterruptedSweep(
        parent.info.run_id, study_name, experiment_path if saved else None, int(parent.data.tags.get(RESUMES_TAG, "0"))
    )


def _study_names(optuna_url: str) -> set[str]:
    import optuna

    return set(optuna.get_all_study_names(storage=optuna_url))


def _recorded_spec(client: MlflowClient, parent) -> dict | None:
    """The spec the parent run started with: its searchspace.yaml with the budget it logged."""
    import tempfile

    from trainables.searchspace import load_sweep

    with tempfile.TemporaryDirectory() as directory:
        try:
            path = Path(client.download_artifacts(parent.info.run_id, "searchspace.yaml", directory))
            spec = load_sweep(path)
        except Exception:  # noqa: BLE001 - an unreadable record cannot be compared; Tune's own checks remain
            return None
    budget = {
        **spec.budget.model_dump(),
        "trials": int(parent.data.params["trials"]),
        "epochs": int(parent.data.params["epochs"]),
    }
    return spec.model_validate({**spec.model_dump(), "budget": budget}).model_dump(mode="json")


def restore_tuner(experiment_path: str, trainable) -> "tune.Tuner":
    """Tune's saved experiment, to carry on: unfinished trials and crashed ones (``resume_errored``) resume from
    their last checkpoints.

    Ray 2.60's ``TuneController`` saves, with its state, the decisions it holds back until a checkpoint save in
    flight resolves (``_cached_trial_decisions``; ``_queued_trial_decisions`` likewise wait on results in
    flight). A trial whose process dies while its checkpoint is being saved leaves a STOP there, and
    ``Tuner.restore`` brings it back although nothing is in flight after a restart: the crashed trial, resumed,
    is stopped at the first checkpoint it saves, as if done, and reads as pruned. Within a sweep, Tune's own
    retry of a crashed trial drops the decision (``TuneController._try_recover``); here the saved state loses
    them before Tune reads it.
    """
    import pyarrow.fs
    from ray import tune
    from ray.tune.execution.experiment_state import _find_newest_experiment_checkpoint

    local = "://" not in experiment_path  # pyarrow takes absolute local paths only
    filesystem, directory = pyarrow.fs.FileSystem.from_uri(
        str(Path(experiment_path).resolve()) if local else experiment_path
    )
    path = _find_newest_experiment_checkpoint(directory, fs=filesystem)  # the state file Tune restores from
    if path is not None:
        with filesystem.open_input_stream(path) as stream:
            state = json.loads(stream.read())
        decisions = ("_cached_trial_decisions", "_queued_trial_decisions")
        if any(state["runner_data"].get(key) for key in decisions):
            state["runner_data"].update({key: {} for key in decisions})
            with filesystem.open_output_stream(path) as stream:
                stream.write(json.dumps(state).encode())
    return tune.Tuner.restore(experiment_path, trainable, resume_unfinished=True, resume_errored=True)


def reopen_parent(tracking_uri: str, sweep: InterruptedSweep) -> None:
    client = MlflowClient(tracking_uri)
    client.update_run(sweep.parent_run_id, status="RUNNING")
    client.set_tag(sweep.parent_run_id, RESUMES_TAG, str(sweep.resumes + 1))


def close_open_child_runs(tracking_uri: str, parent_run_id: str, ended: str) -> int:
    """Every child run of the parent still open (``still_open``), closed KILLED with ``sslsweep.outcome = ended``;
    how many there were. ``interrupted`` after a Ctrl-C; ``abandoned`` after a resumed search, for runs no trial of
    the sweep carried on (a trial the dead driver started after Tune's last save), kept for what they logged. A run
    whose end this process has queued (a second Ctrl-C cut the wait for it short) is left to its writer, known by
    its id or its trial's (the key its records were queued under)."""
    client = MlflowClient(tracking_uri)
    closing = closing_runs()
    runs = [
        run
        for run in child_runs(client, parent_run_id)
        if still_open(run) and not {run.info.run_id, run.data.tags.get(TRIAL_ID_TAG)} & closing
    ]
    for run in runs:
        close_run(client, run.info.run_id, ended)
    return len(runs)
