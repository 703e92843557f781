"""A sweep on more than one machine's worth of services, with real processes and no mocks:

- submitted with ``ray job submit`` (token authentication on) to a head and a worker node started by
  ``cluster/local.sh``: the trials spread over both nodes and everything lands in the stores under
  ``SSLSWEEP_HOME``, outside the uploaded working directory;
- run against an ``mlflow server`` (runs and artifacts over its REST API) and an Optuna study in PostgreSQL,
  the shared stores of a cluster (skipped, with the reason, where PostgreSQL or its driver is missing).

Each test starts its own servers on free ports, in directories of its own, and stops exactly those processes:
the cluster with ``cluster/local.sh stop`` (by recorded process id), the MLflow server by the process group
it was started in, PostgreSQL with ``pg_ctl stop``. Nothing is written to the user's home: the Ray token
lives in a temporary file (``RAY_AUTH_TOKEN_PATH``).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pandas as pd
import pytest
import servers
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from servers import free_port, postgres_cluster
from sweeps import ROOT, cluster_environment, cluster_sweep_file

LOCAL_SH = ROOT / "cluster" / "local.sh"
# The `ray` command of this Python's environment (the one Ray and sslsweep are installed in).
RAY = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray") or "ray"
EXPECTED_STATUS = {"finished": "FINISHED", "pruned": "FINISHED", "failed": "FAILED"}
EXPECTED_OPTUNA_STATE = {
    "finished": optuna.trial.TrialState.COMPLETE,
    "pruned": optuna.trial.TrialState.PRUNED,
    "failed": optuna.trial.TrialState.FAIL,
}

pytestmark = pytest.mark.slow


def _parent(client: MlflowClient, sweep: str) -> Run:
    experiment = client.get_experiment_by_name(f"sslsweep/{sweep}")
    assert experiment is not None, "the sweep's MLflow experiment exists"
    parents = client.search_runs([experiment.experiment_id], "tags.`sslsweep.role` = 'sweep'")
    assert len(parents) == 1
    return parents[0]


def _children(client: MlflowClient, parent: Run) -> list[Run]:
    return client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'", max_results=1000
    )


def _check_children(children: list[Run], trials: int) -> list[str]:
    """Every trial has a child run whose status is its outcome's; returns the outcomes."""
    assert len(children) == trials, [c.data.tags for c in children]
    assert {c.data.tags.get("sslsweep.role") for c in children} == {"trial"}
    outcomes = [c.data.tags.get("sslsweep.outcome") for c in children]
    assert set(outcomes) <= set(EXPECTED_STATUS), outcomes
    assert [c.info.status for c in children] == [EXPECTED_STATUS[o] for o in outcomes]
    return outcomes


# ---------------------------------------------------------------------------------------------------------
# 1. ray job submit to a head and one worker node (cluster/local.sh)
# ---------------------------------------------------------------------------------------------------------


def _home_token() -> tuple | None:
    path = Path.home() / ".ray" / "auth_token"
    return (path.stat().st_mtime_ns, path.read_bytes()) if path.exists() else None


@pytest.fixture
def local_cluster(tmp_path):
    """A head and one worker node from cluster/local.sh, 2 CPUs and 1.5 GiB for tasks and actors each, token auth
    with a token of its own."""
    if shutil.which("setsid") is None:
        pytest.skip("cluster/local.sh needs setsid (util-linux)")
    # Ray's temp dir holds Unix sockets (at most 107 bytes per path): a short directory of its own under /tmp.
    # It also keeps the cluster's address file (ray_current_cluster) away from other ray.init() calls.
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    token = tmp_path / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    home = tmp_path / "home"
    ports = {name: free_port() for name in ("port", "dashboard", "agent")}
    env = cluster_environment(
        SSLSWEEP_HOME=str(home),
        SSLSWEEP_REPORTS_DIR=str(home / "reports"),
        SSLSWEEP_LOCAL_CLUSTER_DIR=str(tmp_path / "local-cluster"),
        RAY_AUTH_TOKEN_PATH=str(token),
        RAY=RAY,
        RAY_USAGE_STATS_ENABLED="0",
    )
    try:
        start = subprocess.run(
            [
                str(LOCAL_SH),
                "start",
                "1",
                "--head-cpus",
                "2",
                "--worker-cpus",
                "2",
                "--head-memory-mb",
                "1536",
                "--worker-memory-mb",
                "1536",
                "--port",
                str(ports["port"]),
                "--dashboard-port",
                str(ports["dashboard"]),
                "--agent-port",
                str(ports["agent"]),
                "--object-store-mb",
                "256",
                "--temp-dir",
                str(ray_tmp),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert start.returncode == 0, start.stdout[-3000:] + start.stderr[-3000:]
        yield {"env": env, "home": home, "address": f"http://127.0.0.1:{ports['dashboard']}", "token": token}
    finally:
        # Also after a failed or timed-out start: local.sh recorded each node as it started it.
        stop = subprocess.run([str(LOCAL_SH), "stop"], env=env, capture_output=True, text=True, timeout=180)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert stop.returncode == 0, stop.stdout + stop.stderr


def _ray_cli(cluster, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """``ray ARGS`` against the cluster, with its token (the address goes before a ``--`` entrypoint)."""
    args = list(args)
    at = args.index("--") if "--" in args else len(args)
    args[at:at] = ["--address", cluster["address"]]
    return subprocess.run(
        [RAY, *args],
        cwd=ROOT,
        env={**cluster["env"], "RAY_AUTH_MODE": "token", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_sweep_submitted_with_ray_job_submit_runs_on_both_nodes(local_cluster, tmp_path):
    cluster, home, trials, epochs = local_cluster, local_cluster["home"], 4, 30
    home_token = _home_token()

    # Token auth is really on: a client without RAY_AUTH_MODE=token, or with another token, is refused; with the
    # cluster's, it lists the nodes. At once: each `ray` command spends its first seconds on imports.
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        without = pool.submit(
            subprocess.run,
            [RAY, "job", "list", "--address", cluster["address"]],
            cwd=ROOT,
            env=cluster_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        wrong = pool.submit(_ray_cli, cluster, "job", "list", RAY_AUTH_TOKEN=secrets.token_hex(32))
        listed = pool.submit(_ray_cli, cluster, "list", "nodes", "--format", "json")
    without, wrong, listed = without.result(), wrong.result(), listed.result()
    assert without.returncode != 0 and "Authentication required" in without.stderr, without.stderr[-2000:]
    assert wrong.returncode != 0 and "Invalid authentication token" in wrong.stderr, wrong.stderr[-2000:]
    assert listed.returncode == 0, listed.stderr[-2000:]
    nodes = {node["node_id"]: node for node in json.loads(listed.stdout) if node["state"] == "ALIVE"}
    assert len(nodes) == 2 and sorted(node["is_head_node"] for node in nodes.values()) == [False, True], nodes

    # One CPU and 1 GiB per trial on nodes of 2 CPUs and 1.5 GiB: their CPUs would hold four trials, their
    # memory holds one each, so two trials at once run on two nodes. Tune reuses a finished trial's process
    # (reuse_actors) and hands it to a pending trial whose own process has not started yet, so a worker node
    # much slower to start its first trial process than the head is to finish a trial would lose every trial
    # to the head: epochs (about 0.2 s each here) keep a trial well above that.
    path = cluster_sweep_file(
        tmp_path,
        "multinode-job",
        budget={"trials": trials, "epochs": epochs},
        search={"lr": {"type": "float", "low": 0.0005, "high": 0.002, "log": True}},
        resources={"workers": 1, "cpus_per_worker": 1, "gpus_per_worker": 0, "memory_gib_per_worker": 1},
    )
    submission_id = f"multinode-{secrets.token_hex(4)}"
    submit = _ray_cli(
        cluster,
        "job",
        "submit",
        "--submission-id",
        submission_id,
        "--working-dir",
        str(ROOT),
        "--runtime-env",
        "cluster/runtime_env.yaml",
        "--",
        "python",
        "tune.py",
        str(path),
        timeout=600,
    )
    assert submit.returncode == 0, submit.stdout[-4000:] + submit.stderr[-3000:]
    assert f"Job '{submission_id}' succeeded" in submit.stdout + submit.stderr, submit.stdout[-3000:]
    assert "2 nodes, 4 CPUs, 0 GPUs" in submit.stdout and "at once    2 trial(s) of 1 worker (1 CPU, 1 GiB each)" in (
        submit.stdout
    ), submit.stdout[:3000]
    status = _ray_cli(cluster, "job", "status", submission_id)
    assert status.returncode == 0 and f"Job '{submission_id}' succeeded" in status.stdout + status.stderr, (
        status.stdout + status.stderr
    )  # the CLI's words for JobStatus.SUCCEEDED

    # Everything went to SSLSWEEP_HOME (exported before `start`, so the job's driver saw it), not to the
    # uploaded copy of the working directory that Ray deleted.
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    parent = _parent(client, "multinode-job")
    assert parent.info.status == "FINISHED"
    children = _children(client, parent)
    outcomes = _check_children(children, trials)
    assert outcomes == ["finished"] * trials  # FIFO: every trial runs to its end
    trial_nodes = [c.data.tags.get("sslsweep.node_id") for c in children]
    trial_lines = [
        line for line in submit.stdout.splitlines() if re.match(r"Trial run_trial_\w+ (started|completed)", line)
    ]
    assert set(trial_nodes) == set(nodes), (trial_nodes, list(nodes), trial_lines)
    assert (home / "reports" / "multinode-job" / "index.html").is_file()
    study = optuna.load_study(
        study_name=parent.data.tags["sslsweep.optuna_study"], storage=f"sqlite:///{home / 'optuna.db'}"
    )
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * trials

    assert _home_token() == home_token, "the test left ~/.ray/auth_token as it was"


# ---------------------------------------------------------------------------------------------------------
# 2. an MLflow tracking server and an Optuna study in PostgreSQL
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust auth, loopback only) with an empty database; its URL."""
    with postgres_cluster(databases=("optuna",)) as urls:
        yield urls["optuna"]


@pytest.fixture
def mlflow_server(tmp_path):
    """``mlflow server`` on a sqlite store and a local artifact destination, on a free loopback port."""
    directory = tmp_path / "mlflow-server"
    with servers.mlflow_server(directory, f"sqlite:///{directory / 'mlflow.db'}", env=cluster_environment()) as uri:
        yield {"uri": uri, "artifacts": directory / "artifacts"}


def test_a_sweep_against_an_mlflow_server_and_a_postgresql_optuna_storage(postgres, mlflow_server, tmp_path):
    home, trials = tmp_path / "home", 2  # one round at max_concurrent 2
    path = cluster_sweep_file(
        tmp_path,
        "server-postgres",
        budget={"trials": trials, "epochs": 2, "max_concurrent": 2},
        # Something to search, so that the study is Optuna's (TPE) and stored in PostgreSQL.
        search={"projector_dim": {"type": "categorical", "choices": [64, 128, 256]}},
    )
    env = cluster_environment(
        SSLSWEEP_HOME=str(home),
        SSLSWEEP_REPORTS_DIR=str(home / "reports"),
        MLFLOW_TRACKING_URI=mlflow_server["uri"],
        SSLSWEEP_OPTUNA_STORAGE=postgres,
    )
    run = subprocess.run(
        [sys.executable, "tune.py", str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "View run" not in run.stdout  # MLflow's links for every run it ends, against a server
    # Neither MLflow nor Optuna fell back to the sqlite files of SSLSWEEP_HOME.
    assert not (home / "mlflow.db").exists() and not (home / "optuna.db").exists()
    assert not (home / "mlartifacts").exists()

    client = MlflowClient(tracking_uri=mlflow_server["uri"])  # over the server's REST API
    parent = _parent(client, "server-postgres")
    assert parent.info.status == "FINISHED"
    children = _children(client, parent)
    outcomes = _check_children(children, trials)
    assert "finished" in outcomes

    # A finished trial's embeddings come back through the server, which keeps them in its artifact destination.
    child = next(c for c in children if c.data.tags["sslsweep.outcome"] == "finished")
    assert child.info.artifact_uri.startswith("mlflow-artifacts:"), child.info.artifact_uri
    assert [a.path for a in client.list_artifacts(child.info.run_id, "embeddings")] == ["embeddings/embeddings.parquet"]
    downloaded = client.download_artifacts(child.info.run_id, "embeddings/embeddings.parquet", str(tmp_path))
    table = pd.read_parquet(downloaded)
    assert table.groupby("split").size().to_dict() == {"train": 32, "validation": 8, "test": 40}
    assert list(mlflow_server["artifacts"].rglob("embeddings.parquet"))

    # The Optuna study, read back from PostgreSQL: one trial per child run, in the state its outcome says.
    study_name = parent.data.tags["sslsweep.optuna_study"]
    assert any(line.startswith("optuna") and f"'{study_name}'" in line for line in run.stdout.splitlines()), run.stdout[
        -3000:
    ]
    study = optuna.load_study(study_name=study_name, storage=postgres)
    assert len(study.trials) == trials
    by_state = sorted(t.state.name for t in study.trials)
    assert by_state == sorted(EXPECTED_OPTUNA_STATE[o].name for o in outcomes)
    assert {t.params["projector_dim"] for t in study.trials} <= {64, 128, 256}
