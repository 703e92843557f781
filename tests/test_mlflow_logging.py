"""The sweep's MLflow callback makes runs and writes their results and ends off Tune's event loop
(``tracking/writer.py``): a run's records land in the order they were made, its queued results batched, its end
after them; everything queued is in the store when the experiment ends (normally or on Ctrl-C), and results before
each experiment-state save; a write that failed is reported there, naming its run, and holds up none of the others
(a run that could not be made: what was queued for it too); a run whose end was queued but never written (a killed
driver) is closed by the resumed sweep from the trial's last result. Tune gets a trial's metrics packed, MLflow all
of them."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
import yaml
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.tracking import MlflowClient
from ray.tune.experiment import Trial

from trainables.records.results import (
    EPOCH,
    EVALUATION_DONE,
    OBJECTIVE_METRIC,
    PACKED_METRICS,
    RANKED_OBJECTIVE,
    TRIAL_ARTIFACTS,
    Outcome,
    for_tune,
    unpacked,
)
from trainables.records.tags import OUTCOME_TAG, TRIAL_ID_TAG
from trainables.searchspace import SweepSpec
from trainables.tracking.mlflow_callback import SweepMLflowCallback, ensure_experiment, start_parent_run

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 6


def _slow_writes(monkeypatch, fail_for: set[str] = frozenset()) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every metric write off the main thread takes 0.2 s (a busy store, a tracking server far away) and fails for
    the runs in ``fail_for``; returns (thread, run id, metrics written) per write."""
    writes: list[tuple[str, str, tuple[str, ...]]] = []
    log_batch = SqlAlchemyStore.log_batch

    def slow_log_batch(self, run_id, metrics, params, tags):
        if threading.current_thread() is not threading.main_thread() and metrics:  # the test's own stay quick
            time.sleep(0.2)
            if run_id in fail_for:
                raise OSError("the store went away")
        writes.append((threading.current_thread().name, run_id, tuple(metric.key for metric in metrics)))
        return log_batch(self, run_id, metrics, params, tags)

    monkeypatch.setattr(SqlAlchemyStore, "log_batch", slow_log_batch)
    return writes


def _callback(tmp_path) -> tuple[SweepMLflowCallback, SweepSpec, str]:
    spec = SweepSpec.model_validate(yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text()))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = start_parent_run(spec, uri, ensure_experiment(uri, "sslsweep/logging", None), "")
    callback = SweepMLflowCallback(spec, uri, "sslsweep/logging", parent)
    callback.setup()
    return callback, spec, uri


def _trials(count: int) -> list[Trial]:
    return [
        Trial(
            "run_trial",
            config={"backbone": "conv1d", "lr": 0.001},
            trial_id=f"t{i}",
            experiment_tag=f"{i}_x",
            stub=True,
        )
        for i in range(count)
    ]


def _report(callback: SweepMLflowCallback, spec: SweepSpec, trials: list[Trial]) -> None:
    for epoch in range(1, EPOCHS + 1):
        for trial in trials:
            result = for_tune(  # as a trial reports it: train/loss reaches Tune packed, and MLflow unpacked
                {
                    EPOCH: epoch,
                    "train/loss": 1.0 / epoch,
                    spec.objective.metric: 0.1 * epoch,
                    EVALUATION_DONE: int(epoch == EPOCHS),
                },
                spec.objective.metric,
            )
            callback.log_trial_result(epoch, trial, result)
            trial.update_last_result(result)


def test_runs_and_results_are_written_off_the_event_loop_batched_and_all_there_when_the_experiment_ends(
    tmp_path, monkeypatch
):
    writes = _slow_writes(monkeypatch)
    creations: list[str] = []
    create_run = SqlAlchemyStore.create_run

    def slow_create_run(self, *args, **kwargs):
        creations.append(threading.current_thread().name)
        time.sleep(0.2)
        return create_run(self, *args, **kwargs)

    callback, spec, uri = _callback(tmp_path)
    monkeypatch.setattr(SqlAlchemyStore, "create_run", slow_create_run)
    finishing, interrupted = _trials(2)
    for trial in (finishing, interrupted):
        callback.log_trial_start(trial)
    started = time.time() * 1000
    _report(callback, spec, [finishing, interrupted])
    client = MlflowClient(uri)
    finished_run, interrupted_run = (callback.run_id(trial) for trial in (finishing, interrupted))
    assert creations == ["sslsweep-mlflow-writer"] * 2
    # Each run started when Tune started its trial, not when the writer came to make it.
    assert all(client.get_run(run_id).info.start_time <= started for run_id in (finished_run, interrupted_run))
    callback.get_state()  # an experiment-state save: every result queued so far is in the store
    for run_id in (finished_run, interrupted_run):
        assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == list(range(1, EPOCHS + 1))
    callback.log_trial_end(finishing)  # queued: the event loop does not wait for it
    assert client.get_run(finished_run).info.status == "RUNNING"
    callback.on_experiment_end([finishing, interrupted])  # Ctrl-C: the other trial never ended

    run = client.get_run(finished_run)
    assert run.info.status == "FINISHED" and run.data.tags[OUTCOME_TAG] == Outcome.FINISHED
    assert run.data.params == {"backbone": "conv1d", "lr": "0.001"}
    assert run.data.metrics[OBJECTIVE_METRIC] == pytest.approx(0.1 * EPOCHS)
    run = client.get_run(interrupted_run)
    assert run.info.status == "KILLED" and run.data.tags[OUTCOME_TAG] == Outcome.INTERRUPTED
    for run_id in (finished_run, interrupted_run):
        assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == list(range(1, EPOCHS + 1))
    # Written by the writer's threads, never Tune's event loop (here the main thread); a run's results queued
    # while a write was under way went in one batch, so there were fewer writes than results; the finished run's
    # end (its objective, with its outcome) came after all of its results.
    results = [
        (thread, run_id)
        for thread, run_id, keys in writes
        if keys and keys != (OBJECTIVE_METRIC,) and run_id in (finished_run, interrupted_run)
    ]
    assert {thread for thread, _ in results} == {"sslsweep-mlflow-writer"}
    assert len(results) < 2 * EPOCHS
    finished_writes = [(thread, keys) for thread, run_id, keys in writes if run_id == finished_run and keys]
    assert finished_writes[-1] == ("sslsweep-mlflow-closer", (OBJECTIVE_METRIC,))
    assert all(thread == "sslsweep-mlflow-writer" for thread, _ in finished_writes[:-1])


def test_a_run_whose_artifact_upload_fails_is_still_closed_and_the_failure_reported(tmp_path, monkeypatch, capsys):
    callback, spec, uri = _callback(tmp_path)
    (trial,) = _trials(1)
    callback.log_trial_start(trial)
    _report(callback, spec, [trial])
    checkpoint = tmp_path / "checkpoint"
    for name in TRIAL_ARTIFACTS:
        (checkpoint / name).parent.mkdir(parents=True, exist_ok=True)
        (checkpoint / name).write_text("x")
    callback._checkpoint_paths[trial] = str(checkpoint)

    def no_room(self, *args, **kwargs):
        raise OSError("no space left on the artifact store")

    monkeypatch.setattr(MlflowClient, "log_artifact", no_room)
    callback.log_trial_end(trial)
    callback.on_experiment_end([trial])
    run_id = callback.run_id(trial)
    assert f"{run_id}: OSError: no space left on the artifact store" in capsys.readouterr().err
    run = MlflowClient(uri).get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags[OUTCOME_TAG] == Outcome.FINISHED
    assert run.data.metrics[OBJECTIVE_METRIC] == pytest.approx(0.1 * EPOCHS)


def test_a_resumed_sweep_closes_the_runs_its_restored_state_calls_ended_from_their_last_result(tmp_path):
    """The interrupted driver saved two trials as ended and was killed before their ends were written (both runs
    still RUNNING), and one trial that had not ended. The resumed sweep's callback, whose restored experiment
    holds the ended trials without starting them, closes their runs as their last results say. The other run is
    left for the trial that carries it on (or the sweep's "abandoned" close), also when a Ctrl-C ends the resumed
    sweep before that trial started, which Tune marks TERMINATED."""
    callback, spec, uri = _callback(tmp_path)
    finished, pruned, unfinished = _trials(3)
    for trial in (finished, pruned, unfinished):
        callback.log_trial_start(trial)
    _report(callback, spec, [finished, unfinished])
    _report(callback, spec, [pruned])
    pruned.update_last_result({EPOCH: 2, spec.objective.metric: 0.2})  # ASHA stopped it before its evaluation
    callback.flush()  # its results were written; then the driver was killed
    runs = {trial: callback.run_id(trial) for trial in (finished, pruned, unfinished)}
    client = MlflowClient(uri)
    assert {client.get_run(run_id).info.status for run_id in runs.values()} == {"RUNNING"}

    resumed = SweepMLflowCallback(spec, uri, "sslsweep/logging", callback.parent_run_id)
    resumed.setup()
    for trial in (finished, pruned):
        trial.set_status(Trial.TERMINATED)
    resumed.on_step_begin(iteration=0, trials=[finished, pruned, unfinished])  # Tune's first step
    unfinished.set_status(Trial.TERMINATED)  # a Ctrl-C's cleanup stopped it before its process started
    resumed.on_experiment_end([finished, pruned, unfinished])

    run = client.get_run(runs[finished])
    assert run.info.status == "FINISHED" and run.data.tags[OUTCOME_TAG] == Outcome.FINISHED
    assert run.data.metrics[OBJECTIVE_METRIC] == pytest.approx(0.1 * EPOCHS)
    run = client.get_run(runs[pruned])
    assert run.info.status == "FINISHED" and run.data.tags[OUTCOME_TAG] == Outcome.PRUNED
    assert run.info.run_name.endswith("pruned at epoch 2") and OBJECTIVE_METRIC not in run.data.metrics
    assert client.get_run(runs[unfinished]).info.status == "RUNNING"


def test_a_ctrl_c_cleanup_leaves_a_run_whose_end_is_queued_to_its_writer(tmp_path, monkeypatch):
    """A second Ctrl-C cuts the wait for queued writes short; closing the sweep's open runs as interrupted must not
    race a trial's end still queued: that run ends as its trial did."""
    from trainables.sweep.resume import close_open_child_runs

    callback, spec, uri = _callback(tmp_path)
    ended, running = _trials(2)
    for trial in (ended, running):
        callback.log_trial_start(trial)
    _report(callback, spec, [ended, running])
    callback.flush()
    _slow_writes(monkeypatch)  # 0.2 s for the end's log_batch, on the closer's thread
    callback.log_trial_end(ended)
    assert close_open_child_runs(uri, callback.parent_run_id, Outcome.INTERRUPTED) == 1  # the running trial's
    callback.flush()
    client = MlflowClient(uri)
    assert client.get_run(callback.run_id(ended)).data.tags[OUTCOME_TAG] == Outcome.FINISHED
    assert client.get_run(callback.run_id(running)).data.tags[OUTCOME_TAG] == Outcome.INTERRUPTED


def test_a_write_that_failed_is_reported_at_the_end_and_holds_up_none_of_the_others(tmp_path, monkeypatch, capsys):
    callback, spec, uri = _callback(tmp_path)
    failing, healthy = _trials(2)
    for trial in (failing, healthy):
        callback.log_trial_start(trial)
    failing_run, healthy_run = callback.run_id(failing), callback.run_id(healthy)
    _slow_writes(monkeypatch, fail_for={failing_run})
    _report(callback, spec, [failing, healthy])
    callback.log_trial_end(failing)  # its results failed, and so does its end's outcome and objective
    callback.on_experiment_end([failing, healthy])
    warning = capsys.readouterr().err
    assert "MLflow writes failed or were not made, their records are missing from these runs: " in warning
    assert f"{failing_run}: OSError: the store went away" in warning and healthy_run not in warning
    client = MlflowClient(uri)
    failed = client.get_run(failing_run)  # not closed without its outcome: open, as a killed driver leaves it
    assert failed.info.status == "RUNNING" and OUTCOME_TAG not in failed.data.tags
    assert client.get_metric_history(failing_run, "train/loss") == []
    assert [m.step for m in client.get_metric_history(healthy_run, "train/loss")] == list(range(1, EPOCHS + 1))
    assert client.get_run(healthy_run).data.tags[OUTCOME_TAG] == Outcome.INTERRUPTED


def test_a_run_that_could_not_be_made_is_reported_with_what_was_queued_for_it_and_the_others_go_on(
    tmp_path, monkeypatch, capsys
):
    """t0's run is refused: its results and end are reported as not written. t1's run is made but its params are
    refused: it still takes its results and its end."""
    callback, spec, uri = _callback(tmp_path)
    create_run, log_batch = SqlAlchemyStore.create_run, SqlAlchemyStore.log_batch

    def refused_for_t0(self, *args, **kwargs):
        if any(tag.key == TRIAL_ID_TAG and tag.value == "t0" for tag in kwargs.get("tags") or ()):
            raise OSError("the store refused the run")
        return create_run(self, *args, **kwargs)

    def params_refused(self, run_id, metrics, params, tags):
        if params:
            raise OSError("the store refused the params")
        return log_batch(self, run_id, metrics, params, tags)

    monkeypatch.setattr(SqlAlchemyStore, "create_run", refused_for_t0)
    monkeypatch.setattr(SqlAlchemyStore, "log_batch", params_refused)
    refused, made = _trials(2)
    for trial in (refused, made):
        callback.log_trial_start(trial)
    _report(callback, spec, [refused, made])
    for trial in (refused, made):
        callback.log_trial_end(trial)
    callback.on_experiment_end([refused, made])
    warning = capsys.readouterr().err
    assert "t0: OSError: the store refused the run" in warning
    unwritten = re.findall(r"t0: (\d+) results were not written: its run could not be made", warning)
    assert sum(map(int, unwritten)) == EPOCHS  # however many batches they came in
    assert "t0: its end was not written: its run could not be made" in warning
    assert callback.run_id(refused) is None
    run_id = callback.run_id(made)
    assert f"{run_id}: OSError: the store refused the params" in warning
    run = MlflowClient(uri).get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags[OUTCOME_TAG] == Outcome.FINISHED
    assert [m.step for m in MlflowClient(uri).get_metric_history(run_id, "train/loss")] == list(range(1, EPOCHS + 1))


def test_a_flush_that_runs_out_of_time_says_which_runs_still_have_writes_queued(tmp_path, monkeypatch):
    from mlflow.entities import Metric

    from trainables.tracking.writer import RunWriter, flush_all

    _slow_writes(monkeypatch)  # 0.2 s a write
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("slow")).info.run_id
    writer = RunWriter(uri)
    for step in range(3):
        writer.log(run_id, [Metric("train/loss", 1.0, 0, step)])
    unwritten = flush_all(timeout=0.05)  # every writer of the process: only this one has anything queued
    assert len(unwritten) == 1 and unwritten[0].startswith(f"{run_id}: ") and unwritten[0].endswith(" still queued")
    assert writer.flush() == []  # no timeout: all written, none failed
    assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == [0, 1, 2]


def test_tune_keeps_statistics_of_the_scheduling_keys_only_and_mlflow_gets_every_metric_back():
    """Tune keeps min, max, mean and the last 5 and 10 values of every number of a result in its experiment state
    (saved every few seconds): a trial's result reaches it with the other metrics packed into one text."""
    objective = "val/linear/acc/frac_1.0"
    metrics = {
        EPOCH: 3,
        RANKED_OBJECTIVE: 0.8,
        EVALUATION_DONE: 1,
        objective: 0.8,
        "train/loss": 0.5,
        "health/rankme": 12.5,
        **{f"test/linear/acc/frac_{fraction}": 0.7 for fraction in (0.01, 0.1, 0.5, 1.0)},
    }
    reported = for_tune(metrics, objective)
    assert unpacked(reported) == metrics
    assert {key for key, value in reported.items() if isinstance(value, (int, float))} == {
        EPOCH,
        RANKED_OBJECTIVE,
        EVALUATION_DONE,
        objective,
    }
    trial = Trial("run_trial", config={}, trial_id="t0", stub=True)
    trial.update_last_result(dict(reported))
    assert set(trial.metric_analysis) == {EPOCH, RANKED_OBJECTIVE, EVALUATION_DONE, objective}
    assert PACKED_METRICS in trial.last_result
    assert for_tune({EPOCH: 1, objective: 0.5}, objective) == {EPOCH: 1, objective: 0.5}  # nothing to pack


@pytest.mark.slow  # starts Ray (its session directory holds the staging directory)
def test_a_crashed_trials_reason_is_read_where_tune_wrote_its_traceback(tmp_path):
    """Tune writes a crashed trial's traceback in the driver's staging directory and uploads it to the Ray storage
    later: read from the storage only, every crash was "unknown error" when its run was closed."""
    import ray
    from ray.train._internal.storage import StorageContext

    from trainables.records.results import failure_reason
    from trainables.tracking.mlflow_callback import trial_error_text

    ray.init(num_cpus=1, include_dashboard=False)
    try:
        storage = StorageContext(storage_path=str(tmp_path), experiment_dir_name="sweep", trial_dir_name="trial")
        trial = Trial("run_trial", stub=True, storage=storage, trial_id="t0")
        trial.init_local_path()
        trial.handle_error(RuntimeError("simulated crash at epoch 2"))
        assert trial.get_error() is None  # not uploaded yet
        assert failure_reason(trial_error_text(trial)) == "simulated crash at epoch 2"
    finally:
        ray.shutdown()
