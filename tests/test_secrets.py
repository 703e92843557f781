"""Store passwords stay in the environment: never printed, never on a command line, never in a file a sweep
writes, and a local Ray listens on the loopback only.

One real sweep (Ray Tune + Optuna + MLflow) against a throwaway PostgreSQL that asks for a password, holding
both the MLflow tracking store and the Optuna study; then every file under the Ray storage, Ray's session
directory, SSLSWEEP_HOME (MLflow's artifacts) and the reports, every MLflow record and everything the commands
printed is searched for the password.
"""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil
import pytest
from mlflow.tracking import MlflowClient
from servers import free_port, postgres_cluster, wait_for_port
from sweeps import ROOT, cluster_environment, cluster_sweep_file

pytestmark = pytest.mark.slow


@pytest.fixture
def password_stores():
    password = f"pw-{secrets.token_hex(12)}"
    with postgres_cluster(databases=("mlflow", "optuna"), password=password) as urls:
        yield password, urls


class ListeningSockets:
    """Every TCP address a process of ``pid``'s tree listens on, sampled until ``stop``: (process name, ip)."""

    def __init__(self, pid: int) -> None:
        self.root, self.seen, self._stop = pid, set(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            try:
                processes = [psutil.Process(self.root), *psutil.Process(self.root).children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            tree = {process.pid: process for process in processes}
            # One read of the machine's sockets per sample (not one per process: the sweep shares the 2 cores).
            for connection in psutil.net_connections(kind="tcp"):
                if connection.status != psutil.CONN_LISTEN or connection.pid not in tree:
                    continue
                try:
                    self.seen.add((tree[connection.pid].name(), connection.laddr.ip))
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue

    def stop(self) -> set[tuple[str, str]]:
        self._stop.set()
        self._thread.join(10)
        return self.seen


def _files_holding(text: str, *roots: Path) -> list[str]:
    needle = text.encode()
    return [
        str(path)
        for root in roots
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    ]


def test_a_sweep_keeps_store_passwords_out_of_output_files_and_records(password_stores, tmp_path):
    password, urls = password_stores
    home = tmp_path / "home"
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's session directory; a short socket path
    env = cluster_environment(
        SSLSWEEP_HOME=str(home),
        SSLSWEEP_REPORTS_DIR=str(home / "reports"),
        SSLSWEEP_RAY_STORAGE=str(home / "ray_results"),
        RAY_TMPDIR=str(ray_tmp),
        MLFLOW_TRACKING_URI=urls["mlflow"],
        SSLSWEEP_OPTUNA_STORAGE=urls["optuna"],
    )
    path = cluster_sweep_file(
        tmp_path,
        "secret-stores",
        budget={"trials": 2, "epochs": 1, "max_concurrent": 1},
        search={"projector_dim": {"type": "categorical", "choices": [64, 128]}},
    )
    printed = []

    def tune(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        run = subprocess.run(
            [sys.executable, "tune.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        printed.append(run.stdout + run.stderr)
        return run

    try:
        sweep = subprocess.Popen(
            [sys.executable, "tune.py", str(path)],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        sockets = ListeningSockets(sweep.pid)
        output, _ = sweep.communicate(timeout=600)
        listening = sockets.stop()
        printed.append(output)
        assert sweep.returncode == 0, output[-3000:]
        assert "postgres:***@127.0.0.1" in output

        # The local Ray this sweep started listened on the loopback only.
        assert any(name == "gcs_server" for name, _ in listening), listening
        assert all(ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for _, ip in listening), sorted(listening)

        # Commands that print store locations or fail with them: the dry run, report, a refused --resume; and
        # `tune.py ui` over a database store, whose password must not be on the server's command line (`ps` shows
        # it). All at once: each is a fresh process that spends its first seconds on imports.
        port = free_port()
        ui = subprocess.Popen(
            [sys.executable, "tune.py", "ui", "--port", str(port)],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                dry, report, missing, resume = pool.map(
                    lambda args: tune(*args),
                    [
                        (str(path), "--dry-run"),
                        ("report", "secret-stores"),
                        ("report", "no-such-sweep"),
                        (str(path), "--resume"),
                    ],
                )
            wait_for_port(port, ui, "tune.py ui")
            command_lines = [
                " ".join(p.cmdline())
                for p in [psutil.Process(ui.pid), *psutil.Process(ui.pid).children(recursive=True)]
            ]
        finally:
            os.killpg(ui.pid, 15)
            printed.append(ui.communicate(timeout=60)[0])
        assert dry.returncode == 0, dry.stderr
        assert "postgres:***@127.0.0.1" in dry.stdout  # the store is named, its password is not
        assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
        assert missing.returncode == 2 and "postgres:***@127.0.0.1" in missing.stderr, missing.stderr
        assert resume.returncode == 2, resume.stderr
        assert any("mlflow" in line and "server" in line for line in command_lines), command_lines
        assert not [line for line in command_lines if password in line]

        assert not [text for text in printed if password in text]
        assert not _files_holding(password, home, ray_tmp)
        client = MlflowClient(urls["mlflow"])
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        assert len(runs) >= 3  # the parent, two trials (and the report run)
        assert not [run.info.run_id for run in runs if password in repr(run.data.to_dictionary())]

        # What Tune saved for --resume names the stores without their passwords, and reads them back from the
        # environment where it is unpickled.
        (searcher_state,) = (home / "ray_results").glob("*/searcher-state-*.pkl")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SSLSWEEP_OPTUNA_STORAGE", urls["optuna"])
            restored = pickle.loads(searcher_state.read_bytes())
            assert restored["storage"].url == urls["optuna"]
            patch.delenv("SSLSWEEP_OPTUNA_STORAGE")
            with pytest.raises(ValueError, match=r"SSLSWEEP_OPTUNA_STORAGE: expected .*postgres:\*\*\*@.* unset"):
                pickle.loads(searcher_state.read_bytes())
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
