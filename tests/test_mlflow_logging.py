"""The sweep's MLflow callback logs results asynchronously (off Tune's event loop) and loses none: a run's queued
results are in the store before the run is ended, and every run's when the experiment ends (Ctrl-C)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import yaml
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.tracking import MlflowClient
from ray.tune.experiment import Trial

from trainables.records.results import EPOCH, EVALUATION_DONE, Outcome
from trainables.records.tags import OUTCOME_TAG
from trainables.searchspace import SweepSpec
from trainables.tracking.mlflow_callback import SweepMLflowCallback, ensure_experiment, start_parent_run

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 6


def _slow_writes(monkeypatch) -> list[str]:
    """Every batch write off the main thread takes 0.5 s (a busy store, a tracking server far away); returns the
    threads that wrote."""
    writers: list[str] = []
    log_batch = SqlAlchemyStore.log_batch

    def slow_log_batch(self, *args, **kwargs):
        if threading.current_thread() is not threading.main_thread():  # the test's own writes stay quick
            time.sleep(0.5)
        writers.append(threading.current_thread().name)
        return log_batch(self, *args, **kwargs)

    monkeypatch.setattr(SqlAlchemyStore, "log_batch", slow_log_batch)
    return writers


def _result(spec: SweepSpec, epoch: int, last: bool = False) -> dict:
    return {EPOCH: epoch, "train/loss": 1.0 / epoch, spec.objective.metric: 0.1 * epoch, EVALUATION_DONE: int(last)}


def test_results_are_written_off_the_calling_thread_and_all_in_the_run_before_it_ends(tmp_path, monkeypatch):
    writers = _slow_writes(monkeypatch)  # before the store exists: its queue keeps the method it had then
    spec = SweepSpec.model_validate(yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text()))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = ensure_experiment(uri, "sslsweep/logging", None)
    parent = start_parent_run(spec, uri, experiment, "")
    callback = SweepMLflowCallback(spec, uri, "sslsweep/logging", parent)
    callback.setup()
    finishing, interrupted = (
        Trial("run_trial", config={"backbone": backbone}, trial_id=f"t{i}", experiment_tag=f"{i}_x", stub=True)
        for i, backbone in enumerate(["conv1d", "gru"])
    )
    for trial in (finishing, interrupted):
        callback.log_trial_start(trial)
    for epoch in range(1, EPOCHS + 1):
        for trial in (finishing, interrupted):
            result = _result(spec, epoch, last=epoch == EPOCHS)
            callback.log_trial_result(epoch, trial, result)
            trial.update_last_result(result)

    client = MlflowClient(uri)
    finished_run = callback._trial_runs[finishing]
    callback.log_trial_end(finishing)
    assert [m.step for m in client.get_metric_history(finished_run, "train/loss")] == list(range(1, EPOCHS + 1))
    assert client.get_run(finished_run).info.status == "FINISHED"
    # Tune's event loop (here the main thread) wrote no result: MLflow's queue did.
    assert len([writer for writer in writers if writer != threading.main_thread().name]) >= EPOCHS

    interrupted_run = callback._trial_runs[interrupted]
    callback.on_experiment_end([finishing, interrupted])  # Ctrl-C: the other trial never ended
    run = client.get_run(interrupted_run)
    assert run.info.status == "KILLED" and run.data.tags[OUTCOME_TAG] == Outcome.INTERRUPTED
    assert [m.step for m in client.get_metric_history(interrupted_run, "train/loss")] == list(range(1, EPOCHS + 1))
