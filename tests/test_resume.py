"""Interrupted sweeps, for real: a Ctrl-C to the driver's process group, a SIGKILL of the driver, then
``tune.py --resume``; and the records (MLflow, the Optuna study, Tune's experiment, the report) checked for what
was lost or duplicated. A second test kills one of a trial's two Ray Train workers and lets Train recover it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from before_ray import tune_cli  # noqa: F401  (a fixture)
from mlflow.tracking import MlflowClient
from sweeps import child_runs_frame, sweep_file, sweep_parent

ROOT = Path(__file__).resolve().parents[1]
# These tests read how trials run, end and resume, not what they score: one kNN readout (and the untrained
# encoder's) at the end keeps them short.
QUICK_EVALUATION = {"protocols": ["knn"], "label_fractions": [1.0], "unit": "series"}
pytestmark = pytest.mark.slow


def _environment(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "SSLSWEEP_HOME": str(home),
        "SSLSWEEP_REPORTS_DIR": str(home / "reports"),
        "RAY_TMPDIR": str(_ray_temp_dir(home)),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    return env


def _ray_temp_dir(home: Path) -> Path:
    """The Ray temporary directory of the sweeps this test starts, so it can read their trials' results as Tune
    writes them. It is outside pytest's tmp_path: Ray's socket paths under it must stay within the 107 characters
    a Unix socket's path may have."""
    link = home.parent / "ray_tmp"
    if not link.exists():
        home.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(tempfile.mkdtemp(prefix="sslsweep-ray-"))
    return link.resolve()


@pytest.fixture(autouse=True)
def _remove_ray_temp_dir(tmp_path):
    yield
    if (tmp_path / "ray_tmp").is_symlink():
        shutil.rmtree((tmp_path / "ray_tmp").resolve(), ignore_errors=True)


def _start(path: Path, home: Path, *extra: str) -> subprocess.Popen:
    # A session of its own: the test's Ctrl-C goes to the driver's process group, as a terminal's does.
    return subprocess.Popen(
        [sys.executable, "tune.py", str(path), *extra],
        cwd=ROOT,
        env=_environment(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _last_results(home: Path) -> dict[str, dict]:
    """Tune trial id -> its last reported result, for every trial that reported.

    Read from the driver's staging copy of each trial's result.json, which Tune appends to as each result
    arrives; the copy under SSLSWEEP_RAY_STORAGE is refreshed only with the experiment state (every 10 s or more), by when
    a trial of 0.15 s epochs can have gone through the whole window a wait looks for. Each driver start (a
    resume) has a new Ray session with a new copy of the whole file: the newest copy wins."""
    reported, written = {}, {}
    for path in _ray_temp_dir(home).glob("ray/session_*/artifacts/*/*/driver_artifacts/run_trial_*/result.json"):
        try:
            mtime, text = path.stat().st_mtime, path.read_text()
        except OSError:  # a session's files removed while reading
            continue
        complete = text[: text.rfind("\n") + 1]  # a line Tune is still writing waits for the next look
        lines = [json.loads(line) for line in complete.splitlines() if line.strip()]
        if lines and mtime >= written.get(lines[-1]["trial_id"], 0):
            reported[lines[-1]["trial_id"]], written[lines[-1]["trial_id"]] = lines[-1], mtime
    return reported


def _epochs_reported(home: Path) -> dict[str, int]:
    """Tune trial id -> the last epoch it reported."""
    return {trial_id: result["epoch"] for trial_id, result in _last_results(home).items()}


def _wait_until(condition, what: str, process: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the sweep ended before {what}: {out[-2000:]}{err[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {seconds} s")
        time.sleep(0.2)


def test_a_sweep_stopped_by_ctrl_c_then_killed_is_resumed_with_nothing_lost_or_doubled(tmp_path, tune_cli):
    home = tmp_path / "home"
    trials, epochs = 4, 24
    path = sweep_file(
        tmp_path,
        "resume-e2e",
        objective={"metric": "train/loss", "mode": "min"},
        budget={"trials": trials, "epochs": epochs, "checkpoint_every": 2, "max_concurrent": 2},
        scheduler={"type": "fifo"},
        # A trial whose process dies errors at once (no restart within the sweep): --resume carries it on.
        resources={"workers": 1, "cpus_per_worker": 1, "max_failures": 0},
        evaluation=QUICK_EVALUATION,
    )
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")

    def midway(epochs_reported: dict[str, int], before: dict[str, int], last: int = epochs - 12) -> bool:
        """A trial past a checkpoint, at most at epoch ``last``, that moved since ``before``."""
        return any(3 <= e <= last and e != before.get(t) for t, e in epochs_reported.items())

    # 1. A trial's process killed mid-trial (it errors: a crash), then Ctrl-C once another trial has finished and
    # one is past a checkpoint.
    driver = _start(path, home)
    _wait_until(lambda: midway(_epochs_reported(home), {}), "trial past its first checkpoint", driver)
    crashed_id, crashed = next(
        (trial_id, result) for trial_id, result in _last_results(home).items() if 3 <= result["epoch"] <= epochs - 12
    )
    os.kill(crashed["pid"], signal.SIGKILL)
    at_crash = _epochs_reported(home)
    _wait_until(
        lambda: epochs in _epochs_reported(home).values() and midway(_epochs_reported(home), at_crash),
        "finished trial and a trial past its first checkpoint",
        driver,
    )
    os.killpg(driver.pid, signal.SIGINT)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, out[-2000:] + err[-3000:]
    # The killed trial's error is Tune's to print; the Ctrl-C is one message, not a traceback.
    assert "KeyboardInterrupt" not in err, err[-3000:]
    assert "sweep interrupted: parent run" in err and f"python tune.py {path} --resume" in err
    _, parent = sweep_parent(home, "resume-e2e")
    assert parent.info.status == "KILLED"
    children = child_runs_frame(home, parent.info.run_id)
    assert "RUNNING" not in set(children["status"])
    interrupted = children[children["tags.sslsweep.outcome"] == "interrupted"]
    assert len(interrupted) >= 1 and set(interrupted["status"]) == {"KILLED"}
    crash = children[children["tags.sslsweep.trial_id"] == crashed_id].iloc[0]
    assert crash["status"] == "FAILED" and crash["tags.sslsweep.outcome"] == "failed"
    finished_first = children.loc[children["tags.sslsweep.outcome"] == "finished", "run_id"].tolist()
    finished_end_times = {run_id: client.get_run(run_id).info.end_time for run_id in finished_first}

    # 2. Resume, and SIGKILL the driver (only the driver: its Ray processes die with it) once a resumed or new
    # trial is past a checkpoint. Tune's last saved state (every 10 s or more, and whenever a trial has made two
    # checkpoints since) names that checkpoint or an older one, which is still kept.
    driver = _start(path, home, "--resume")
    before = _epochs_reported(home)
    # A trial interrupted at epoch e resumes from its checkpoint at e - 1 or e and reports e again: the window
    # reaches past where step 1 interrupted trials.
    _wait_until(
        lambda: midway(_epochs_reported(home), before, last=epochs - 6),
        "trial past a checkpoint after resuming",
        driver,
    )
    time.sleep(2.5)
    driver.kill()
    driver.communicate(timeout=60)
    _, parent = sweep_parent(home, "resume-e2e")
    assert parent.info.status == "RUNNING"  # a dead driver closes nothing: that is what --resume is for

    # 3. Resume to the end.
    driver = _start(path, home, "--resume")
    out, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, out[-3000:] + err[-3000:]

    _, parent = sweep_parent(home, "resume-e2e")
    assert parent.info.status == "FINISHED" and parent.data.tags["sslsweep.resumes"] == "2"
    children = child_runs_frame(home, parent.info.run_id)
    # The budget, once: one run per trial, no run left open, every trial finished.
    assert len(children) == trials and children["tags.sslsweep.trial_id"].is_unique
    assert set(children["status"]) == {"FINISHED"} and set(children["tags.sslsweep.outcome"]) == {"finished"}
    assert children["tags.sslsweep.trial_number"].is_unique
    # Trials that had finished before the Ctrl-C were not run again.
    for run_id, end_time in finished_end_times.items():
        assert client.get_run(run_id).info.end_time == end_time
    # Every trial has every epoch; at least one resumed trial carried on from a checkpoint (its first result after
    # a restore came at a later epoch), none started over where a checkpoint existed.
    for _, child in children.iterrows():
        steps = {m.step for m in client.get_metric_history(child.run_id, "train/loss")}
        assert steps == set(range(1, epochs + 1)), child.run_id
    # Tune's own record of each trial's results (its counters are not MLflow metrics): the first result after a
    # restore has iterations_since_restore 1.
    restarts = [
        result["epoch"]
        for path in (home / "ray_results").glob("*/run_trial_*/result.json")
        for result in map(json.loads, filter(str.strip, path.read_text().splitlines()))
        if result.get("iterations_since_restore") == 1
    ]
    assert any(epoch > 1 for epoch in restarts), restarts
    # The crashed trial carried on in its own run, which no longer says it failed.
    crash = children[children["tags.sslsweep.trial_id"] == crashed_id].iloc[0]
    assert crash["tags.sslsweep.resumed"] == "true" and pd.isna(crash.get("tags.sslsweep.failure_reason"))
    # The Optuna study: the budget completed, each point once; the crash stays FAIL (a finished Optuna trial cannot
    # be reopened) beside the retry of its point that completed.
    study = optuna.load_study(
        study_name=parent.data.tags["sslsweep.optuna_study"], storage=f"sqlite:///{home / 'optuna.db'}"
    )
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    (failed,) = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(study.trials) == trials + 1 and len(complete) == trials
    assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == trials
    assert failed.user_attrs["sslsweep_crashed"] and failed.number == int(crash["tags.sslsweep.trial_number"])
    (retry,) = [t for t in complete if t.user_attrs.get("sslsweep_retry_of") == failed.number]
    assert retry.params == failed.params
    # Each run names the Optuna trial that proposed its point: the crash's run the failed trial (its retry carries
    # on in that run), every other run a completed trial. Whether the retry's number comes before the last new
    # trial's depends on whether that trial was proposed before the Ctrl-C.
    assert sorted(children["tags.sslsweep.trial_number"].astype(int)) == sorted(
        [t.number for t in complete if t is not retry] + [failed.number]
    )
    # The report agrees with MLflow.
    configurations = pd.read_csv(home / "reports" / "resume-e2e" / "tables" / "resume-e2e_configurations.csv")
    assert set(configurations["trial"]) == {"#" + number for number in children["tags.sslsweep.trial_number"]}

    # In this process (before_ray.py); the next test runs a --resume refusal in a fresh one.
    again = tune_cli(path, "--resume", env={"SSLSWEEP_HOME": str(home)})
    assert again.returncode == 2 and [line for line in again.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {path}: --resume: the latest sweep 'resume-e2e' (parent run {parent.info.run_id}) finished; "
        f"expected an interrupted one (run it without --resume for a new sweep)"
    ]


_CRASH_DURING_SAVE = """
import json, shutil, sys, tempfile
from pathlib import Path
import ray
from ray import tune
from trainables.sweep.resume import restore_tuner

root = Path(sys.argv[1])

def train(config):
    checkpoint, start = tune.get_checkpoint(), 0
    if checkpoint:
        with checkpoint.as_directory() as directory:
            start = int(Path(directory, "epoch").read_text())
    for epoch in range(start + 1, 7):
        if epoch == 4 and not (root / "died").exists():
            (root / "died").touch()
            raise RuntimeError("the trial's process died")
        with tempfile.TemporaryDirectory() as directory:
            Path(directory, "epoch").write_text(str(epoch))
            saved = tune.Checkpoint.from_directory(directory) if epoch % 2 == 0 else None
            tune.report({"epoch": epoch}, checkpoint=saved)

ray.init(num_cpus=1, include_dashboard=False)
tune.Tuner(train, run_config=tune.RunConfig(name="crashed", storage_path=str(root))).fit()
last_epochs = {}
restores = {"ray": lambda path: tune.Tuner.restore(path, train, resume_unfinished=True, resume_errored=True),
            "sslsweep": lambda path: restore_tuner(path, train)}
for name, restore in restores.items():
    path = root / name
    shutil.copytree(root / "crashed", path)
    state_file = max(path.glob("experiment_state-*.json"))
    state = json.loads(state_file.read_text())
    (trial,) = [json.loads(data)["trial_id"] for data, _ in state["trial_data"]]
    state["runner_data"]["_cached_trial_decisions"] = {trial: "STOP"}
    state_file.write_text(json.dumps(state))
    (result,) = restore(str(path)).fit()
    last_epochs[name] = result.metrics["epoch"]
print(json.dumps(last_epochs))
"""


def test_a_trial_that_crashed_while_saving_a_checkpoint_resumes_to_its_end(tmp_path):
    """Seen in this file's first test about once in five runs: a trial killed while Tune saved its checkpoint
    leaves Tune's saved state with a STOP held for that save (``_cached_trial_decisions``: {trial id: STOP}), which
    ``Tuner.restore`` brings back; the crashed trial, resumed, was stopped at its first checkpoint and read as
    pruned. The same state, made here by a trial that raises at epoch 4 and that STOP written in: Ray's restore
    stops it at epoch 4 of 6, ``restore_tuner`` carries it to its end."""
    run = subprocess.run(
        [sys.executable, "-c", _CRASH_DURING_SAVE, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**_environment(tmp_path / "home"), "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"ray": 4, "sslsweep": 6}


def test_resume_refuses_a_sweep_that_finished_or_never_ran(tmp_path):
    home = tmp_path / "home"
    path = sweep_file(
        tmp_path, "resume-nothing", budget={"trials": 1, "epochs": 1}, search={}, scheduler={"type": "fifo"}
    )
    run = subprocess.run(
        [sys.executable, "tune.py", str(path), "--resume"],
        cwd=ROOT,
        env=_environment(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert [line for line in run.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {path}: --resume: no sweep named 'resume-nothing' in sqlite:///{home / 'mlflow.db'}; expected one "
        f"started before (run it without --resume)"
    ]


def test_resume_refuses_a_sweep_whose_study_is_not_in_the_optuna_storage_before_ray(tmp_path, monkeypatch):
    """An interrupted sweep resumed without the SSLSWEEP_OPTUNA_STORAGE it ran with (a password variable left
    unset in a new shell) is one line before Ray starts, not an error inside Tune's restore."""
    from trainables.records.tags import OPTUNA_STUDY_TAG
    from trainables.searchspace import load_sweep
    from trainables.sweep.resume import ResumeError, find_interrupted_sweep
    from trainables.tracking.mlflow_callback import ensure_experiment, start_parent_run
    from trainables.tracking.stores import resolve_stores

    for name in ("MLFLOW_TRACKING_URI", "SSLSWEEP_OPTUNA_STORAGE", "SSLSWEEP_RAY_STORAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path / "home"))
    path = sweep_file(
        tmp_path,
        "resume-elsewhere",
        budget={"trials": 2, "epochs": 1},
        scheduler={"type": "fifo"},
        search={"projector_dim": {"type": "categorical", "choices": [64, 128]}},
    )
    spec, stores = load_sweep(path), resolve_stores()
    experiment = ensure_experiment(stores.mlflow_uri, f"sslsweep/{spec.name}", stores.mlflow_artifacts)
    parent = start_parent_run(spec, stores.mlflow_uri, experiment, path.read_text())  # left RUNNING: interrupted
    MlflowClient(stores.mlflow_uri).set_tag(parent, OPTUNA_STUDY_TAG, "resume-elsewhere-20260101-000000-abcd")
    with pytest.raises(ResumeError) as refused:
        find_interrupted_sweep(spec, path, stores)
    assert str(refused.value) == (
        f"{path}: --resume: sweep 'resume-elsewhere' (parent run {parent}) searched with Optuna study "
        f"'resume-elsewhere-20260101-000000-abcd', which is not in {stores.optuna_url}; expected "
        f"SSLSWEEP_OPTUNA_STORAGE set as when it ran (with its password)"
    )
    optuna.create_study(study_name="resume-elsewhere-20260101-000000-abcd", storage=stores.optuna_url)
    with pytest.raises(ResumeError, match="Tune saved no state"):  # the next check: the study is found
        MlflowClient(stores.mlflow_uri).create_run(experiment, tags={"mlflow.parentRunId": parent})
        find_interrupted_sweep(spec, path, stores)


def _descendants(root: int) -> list[int]:
    """Process ids under ``root`` (children, grandchildren, ...), read from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _train_workers(driver: subprocess.Popen) -> list[int]:
    workers = []
    for pid in _descendants(driver.pid):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::RayTrainWorker"):
                workers.append(pid)
        except OSError:
            continue
    return workers


def test_a_killed_ray_train_worker_is_replaced_and_its_trial_finishes(tmp_path):
    """SIGKILL one of a trial's two DDP workers mid-trial: Ray Train (``resources.max_failures``) restarts the
    worker group, the loop resumes from the last reported checkpoint, and the trial ends with every epoch."""
    home = tmp_path / "home"
    epochs = 16
    path = sweep_file(
        tmp_path,
        "worker-kill",
        search={},
        budget={"trials": 1, "epochs": epochs, "checkpoint_every": 2},
        resources={"workers": 2, "cpus_per_worker": 1},
        scheduler={"type": "fifo"},
        objective={"metric": "train/loss", "mode": "min"},
        evaluation=QUICK_EVALUATION,
    )
    driver = _start(path, home)
    _wait_until(
        lambda: any(3 <= e <= epochs - 8 for e in _epochs_reported(home).values()) and len(_train_workers(driver)) == 2,
        "trial past its first checkpoint",
        driver,
    )
    victim = _train_workers(driver)[-1]
    os.kill(victim, signal.SIGKILL)
    out, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, out[-3000:] + err[-3000:]
    assert not Path(f"/proc/{victim}").exists()
    assert "[FailurePolicy] RETRY" in out + err  # Ray Train's controller chose to restart the group

    client, parent = sweep_parent(home, "worker-kill")
    (child,) = [row for _, row in child_runs_frame(home, parent.info.run_id).iterrows()]
    assert child["status"] == "FINISHED" and child["tags.sslsweep.outcome"] == "finished"
    assert child["metrics.objective"] == child["metrics.train/loss"]  # logged when a trial finishes, at its end
    history = client.get_metric_history(child.run_id, "train/loss")
    assert {m.step for m in history} == set(range(1, epochs + 1))
    # It carried on from a checkpoint (the first is after epoch 2, the kill came later): epochs logged twice, if any,
    # are ones after that checkpoint, never the first two as a restart from scratch would replay.
    replayed = [step for step in {m.step for m in history} if sum(m.step == step for m in history) > 1]
    assert all(step > 2 for step in replayed), replayed


# Ray's memory monitor killing a trial's process, as Tune's controller meets it (air/execution/_internal/
# actor_manager.py, _actor_task_failed): an error between two of the trial's results, its run open. Only that
# event is made up; the sweep, Ray, Tune, MLflow and Optuna are real.
_RAY_KILLS_A_TRIAL = r"""
import sys
import tune
from ray.exceptions import OutOfMemoryError
from trainables.tracking.mlflow_callback import SweepMLflowCallback

logged = SweepMLflowCallback.log_trial_result


def log_trial_result(self, iteration, trial, result):
    logged(self, iteration, trial, result)
    if result["epoch"] == 1:
        killed = OutOfMemoryError(
            "1 worker(s) were killed due to the node running low on memory. Memory on the node (IP: 127.0.0.1, "
            "ID: 0a1b) was 22.90GB used / 23.54GB limit (0.972800)\nOOM kill reason: Memory usage exceeded ..."
        )
        raise RuntimeError(f"Caught unexpected exception: {killed}") from killed


SweepMLflowCallback.log_trial_result = log_trial_result
sys.exit(tune.run(sys.argv[1:]))
"""


def test_a_sweep_ray_stops_ends_in_one_line_with_its_records_closed_and_can_be_resumed(tmp_path, monkeypatch):
    """The Ctrl-C test above resumes a sweep; this one checks that a sweep Ray stopped is one ``--resume`` finds,
    with Tune's state saved to restore (``find_interrupted_sweep``, as ``tune.py --resume`` calls it)."""
    home = tmp_path / "home"
    path = sweep_file(
        tmp_path,
        "ray-stops",
        budget={"trials": 1, "epochs": 2, "checkpoint_every": 1},
        scheduler={"type": "fifo"},
        search={},
        objective={"metric": "train/loss", "mode": "min"},
        evaluation=QUICK_EVALUATION,
    )
    stopped = subprocess.run(
        [sys.executable, "-c", _RAY_KILLS_A_TRIAL, str(path)],
        cwd=ROOT,
        env=_environment(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert stopped.returncode == 1, stopped.stdout[-2000:] + stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr
    _, parent = sweep_parent(home, "ray-stops")
    assert parent.info.status == "FAILED"
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {path}: sweep stopped: Ray: 1 worker(s) were killed due to the node running low on memory. Memory "
        f"on the node (IP: 127.0.0.1, ID: 0a1b) was 22.90GB used / 23.54GB limit (0.972800); parent run "
        f"{parent.info.run_id} is FAILED, its unfinished trials closed; reserve what a trial uses "
        f"(resources.memory_gib_per_worker) so that Ray starts only the trials a node holds, or run fewer at once "
        f"(budget.max_concurrent); to carry on:"
    ]
    lines = stopped.stderr.splitlines()
    assert lines[lines.index(errors[0]) + 1] == f"    python tune.py {path} --resume"
    (trial,) = [row for _, row in child_runs_frame(home, parent.info.run_id).iterrows()]
    assert (trial["status"], trial["tags.sslsweep.outcome"]) == ("KILLED", "interrupted")
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    assert [m.step for m in client.get_metric_history(trial["run_id"], "train/loss")] == [1]

    from trainables.searchspace import load_sweep
    from trainables.sweep.resume import find_interrupted_sweep
    from trainables.tracking.stores import resolve_stores

    for name, value in _environment(home).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    interrupted = find_interrupted_sweep(load_sweep(path), path, resolve_stores())
    assert interrupted.parent_run_id == parent.info.run_id and interrupted.experiment_path is not None


def test_ray_stopping_the_search_is_named_in_one_line_with_what_to_do():
    """Ray 2.60's Tune ends ``fit`` with ``RuntimeError("Caught unexpected exception: ...")`` from Ray's own error
    when its memory monitor kills a trial's process (seen at 32 trials on one 2-core machine, docs/measurements.md);
    ``ray_stop_reason`` finds Ray's error behind Tune's and keeps its first line. Anything else is not Ray's."""
    from ray.exceptions import NodeDiedError, OutOfMemoryError, WorkerCrashedError

    from trainables.sweep.resume import SweepStopped, ray_stop_reason

    killed = OutOfMemoryError(
        "2 worker(s) were killed due to the node running low on memory. Memory on the node (IP: 192.0.2.2, ID: "
        "a45e) was 22.10GB used / 23.54GB limit (0.938876)\nOOM kill reason: Memory usage 24017743872B exceeded ..."
    )
    try:
        try:
            raise killed
        except OutOfMemoryError as error:
            raise RuntimeError(f"Caught unexpected exception: {error}") from error
    except RuntimeError as tune_error:
        reason = ray_stop_reason(tune_error)
    assert reason.reported == (
        "2 worker(s) were killed due to the node running low on memory. Memory on the node (IP: 192.0.2.2, "
        "ID: a45e) was 22.10GB used / 23.54GB limit (0.938876)"
    )
    first, command = str(SweepStopped("abc123", reason, "python tune.py s.yaml --resume", closed=True)).splitlines()
    assert first == (
        f"sweep stopped: Ray: {reason.reported}; parent run abc123 is FAILED, its unfinished trials closed; reserve "
        f"what a trial uses (resources.memory_gib_per_worker) so that Ray starts only the trials a node holds, or "
        f"run fewer at once (budget.max_concurrent); to carry on:"
    )
    assert command == "    python tune.py s.yaml --resume"
    unclosed = str(SweepStopped("abc123", reason, "python tune.py s.yaml --resume", closed=False))
    assert "its unfinished trials not closed (--resume closes them)" in unclosed

    assert ray_stop_reason(NodeDiedError("node 10.0.0.7 died")).reported == "node 10.0.0.7 died"
    crashed = ray_stop_reason(WorkerCrashedError())
    assert crashed.reported.startswith("The worker died unexpectedly") and crashed.advice == ""
    assert "its unfinished trials closed; to carry on:" in str(SweepStopped("abc", crashed, "cmd", closed=True))
    assert ray_stop_reason(RuntimeError("Caught unexpected exception: something else")) is None
    assert ray_stop_reason(ValueError("a bug of ours")) is None
