"""How the sweep driver holds up at scale: hundreds of tiny trials, up to 32 at once, on a simulated cluster with a
real MLflow server and PostgreSQL, measured from outside the driver.

    python benchmarks/sweep_scale.py --quick                      # a few minutes on 2 cores
    python benchmarks/sweep_scale.py [--phase storage sweeps resume] [--trials 100 300 1000]
                                     [--concurrency 1 8 32] [--nodes 4] [--cpus-per-node 8] [--epochs 2]
                                     [--memory-gib-per-trial 0.6 --node-memory-mb 3072]
                                     [--work-dir DIR] [--keep] [--json FILE] [--plan]

What it starts, all on this machine and all stopped in a ``finally`` (also on Ctrl-C), by the process ids it
started: a throwaway PostgreSQL (``initdb`` + ``pg_ctl`` on 127.0.0.1, a free port; run as the ``postgres`` user
when this runs as root) holding the MLflow server's backend and the Optuna studies; ``mlflow server`` on
127.0.0.1 (a process group of its own, job execution off); a Ray cluster of a head and ``--nodes`` worker nodes
of ``--cpus-per-node`` logical CPUs each (``cluster/local.sh start``/``stop``, token auth with a token file of its
own, so ``~/.ray/auth_token`` is untouched; ``--node-memory-mb`` gives each node a share of the machine's memory,
and ``--memory-gib-per-trial`` has each trial reserve that much of it, so Ray starts only the trials a node's
memory holds), whose worker nodes and trials can run at a lower priority than the driver (``--worker-nice``; a cluster's driver has the head node's cores to itself, here it shares 2 with the
trials). Files go under ``--work-dir`` (default: a new temporary directory,
removed at the end unless ``--keep``), except PostgreSQL's data and Ray's temp dir, which hold Unix sockets and
go to short ``/tmp/ssb-*`` directories (removed unless ``--keep``). Without psycopg2 (or psycopg) or the
PostgreSQL server binaries it says what to install and uses sqlite files instead.

Phases (``--phase``, default all three):

storage  No Ray. Optuna ask / report / tell latency against the number of finished trials, on sqlite and on
         PostgreSQL (the sweep's own TPE sampler and search space, ``--storage-concurrency`` trials in flight);
         MLflow time per result (a ``log_batch`` of ``--metrics-per-result`` metrics and the checkpoint tag, as
         the sweep's MLflow writer sends a result when nothing else is queued) against the number of results
         already logged, on a sqlite store and through the MLflow server, plus the per-trial create_run and
         set_terminated.
sweeps   ``python tune.py <tiny yaml> --trials N`` for each N of ``--trials`` and C of ``--concurrency``
         (``budget.max_concurrent: C``; at C = 1 only up to ``--serial-trials-cap`` trials, default 300: 0 runs
         the issue's whole grid, 1,000 serial trials included), RAY_ADDRESS the
         simulated cluster, MLFLOW_TRACKING_URI the server, SSLSWEEP_OPTUNA_STORAGE PostgreSQL. The tiny sweep:
         Barlow Twins on the bundled BasicMotions, conv1d, 50-step windows, projector of 16-64, kNN at 100 %
         labels, ``--epochs`` epochs, FIFO, a checkpoint every epoch. From outside, per sweep:
         - per-trial driver overhead: the trial's MLflow run end - start (when Tune started and ended the trial)
           minus its own work (the last ``time_total_s`` of its Tune result.json in the Ray storage), against
           Tune's trial index;
         - result processing: the lag from the trial handing a result to Ray (its ``reported_at``) to the
           driver's MLflow callback taking it (the metric's timestamp); for epoch k >= 2 of a trial, the time
           between the MLflow timestamps of epochs k-1 and k minus the epoch's own ``time_this_iter_s`` (the
           trial's round trip per result: a function trainable blocks after each report until the driver asks
           for the next); Tune's own slow-processing warnings from the driver's output;
         - every experiment-state save: Tune's ``experiment_state-*.json`` with its searcher and callback
           files in the driver's staging dir, polled every 0.1 s (size, write time from the files' mtimes,
           when the copy in the Ray storage dir caught up); the staging dir's size;
         - the driver's resident memory (psutil, every second) against trials ended;
         - the sweep's own report and the registry, from MLflow timestamps on the parent run (the
           ``sweep/data_preparations`` metric, the answer's metrics, the run's end); ``python tune.py report``
           over the sweep, timed as a new process;
         - nothing lost: every trial's run FINISHED with every epoch of ``train/loss``, every Optuna trial
           COMPLETE with every step.
resume   The ``--resume-trials`` sweep at ``--resume-concurrency``: Ctrl-C (SIGINT to the driver's process
         group) once a third of its trials finished, ``--resume``, SIGKILL of the driver once two thirds
         finished (plus 2.5 s), ``--resume`` to the end; then the same nothing-lost check.

``--quick``: 20 trials at concurrency 1 and 4 on 2 nodes x 2 CPUs, 200 Optuna / 20 MLflow trials in the storage
phase, a 20-trial resume at concurrency 4. ``--plan`` writes and validates the sweep files, prints the plan and
starts nothing. It prints one table per measurement, with units, and where the issue sets a target, the
target and whether this run met it; nothing is asserted. Targets (at concurrency 32 over 1,000 trials):
per-trial overhead at trial 1,000 within 20 % of trial 10's; result processing never more than 1 s behind;
``tune.py report`` under 60 s; the registry under 10 s; nothing lost after a normal end, a Ctrl-C and a SIGKILL
+ --resume.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import math
import os
import platform
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ssl"))

from selfsup.evaluation.metric_names import TRAINING_LOSS  # noqa: E402 - after the path set-up
from trainables.tracking.stores import POINTING_VARIABLES  # noqa: E402

LOCAL_SH = ROOT / "cluster" / "local.sh"
# The `ray` command of this Python's environment (the one Ray and sslsweep are installed in).
RAY_BIN = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray") or "ray"
STATE_POLL_S = 0.1  # how often the experiment-state files are looked at
WIDE_WINDOW = 50  # trials in the windows whose median overheads the target compares (see the overhead table)
SAVE_GAP_S = 0.5  # a change of experiment_state-*.json this long after the previous one is a new save
# The four files one experiment-state save writes, in this order (ray/tune/execution/tune_controller.py
# save_to_dir: the state, the search algorithm's two, the callbacks'); each carries the driver session's string.
STATE_FILES = (
    "experiment_state-{}.json",
    "search_gen_state-{}.json",
    "searcher-state-{}.pkl",
    "callback-states-{}.pkl",
)
TUNE_WARNINGS = {
    "processing trial results": re.compile(r"Processing trial results took ([\d.]+) s"),
    "slow operation": re.compile(r"The `(\w+)` operation took ([\d.]+) s"),
    "slow state save": re.compile(r"experiment state .*?(?:took ~|already taken )([\d.]+) seconds"),
    "state saves too often": re.compile(r"Experiment state snapshotting has been triggered multiple times"),
}
ENDED_LINE = re.compile(r"^trial (finished|pruned|failed)\b.*\((\d+)/(\d+) ended\)")

QUICK = {
    "trials": [20],
    "concurrency": [1, 4],
    "nodes": 2,
    "cpus_per_node": 2,
    "storage_trials": 200,
    "storage_concurrency": 4,
    "mlflow_trials": 20,
    "resume_trials": 20,
    "resume_concurrency": 4,
}
FULL = {
    "trials": [100, 300, 1000],
    "concurrency": [1, 8, 32],
    "nodes": 4,
    "cpus_per_node": 8,
    "storage_trials": 1000,
    "storage_concurrency": 32,
    "mlflow_trials": 1000,
    "resume_trials": 300,
    "resume_concurrency": None,  # the largest --concurrency
}


class Unavailable(RuntimeError):
    """A service this benchmark cannot start here; the message says why and what to install."""


# ---------------------------------------------------------------------------------------------------------
# small helpers: statistics and tables
# ---------------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) of ``values``, linearly interpolated; None for no values."""
    data = sorted(v for v in values if v is not None and not math.isnan(v))
    if not data:
        return None
    position = (len(data) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return data[low] + (data[high] - data[low]) * (position - low)


def median(values: list[float]) -> float | None:
    return percentile(values, 50)


def fmt(value: Any, digits: int = 2, scale: float = 1.0) -> str:
    """A number for a table cell (``-`` for none), scaled (e.g. 1000 for seconds shown in ms)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value * scale:.{digits}f}" if isinstance(value, float) or scale != 1.0 else str(value)
    return str(value)


def print_table(title: str, headers: list[str], rows: list[list[Any]], note: str | None = None) -> None:
    """A plain-text table: a title line, the header, a rule, the rows (cells right-aligned but the first)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    numeric = [i > 0 and all(_is_number(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric))

    print(f"\n{title}")
    print("  " + line(headers))
    print("  " + "  ".join("-" * w for w in widths))
    for row in cells:
        print("  " + line(row))
    if not rows:
        print("  (nothing measured)")
    if note:
        print(f"  ({note})")
    sys.stdout.flush()


def _is_number(text: str) -> bool:
    """A table cell that is a number (or ``-``, none): right-aligned."""
    try:
        float(text.split(" ")[0])
        return True
    except ValueError:
        return text == "-"


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "MISSED")


def index_buckets(count: int, edges: tuple[int, ...] = (10, 30, 100, 300, 1000, 3000, 10000)) -> list[tuple[int, int]]:
    """Ranges of 1-based trial indices (or counts) up to ``count``: 1-10, 11-30, 31-100, ..."""
    buckets, low = [], 0
    for edge in (*edges, math.inf):
        if low >= count:
            break
        high = int(min(edge, count))
        buckets.append((low + 1, high))
        low = high
    return buckets


def count_buckets(count: int, edges: tuple[int, ...] = (10, 100, 300, 1000, 3000, 10000)) -> list[tuple[int, int]]:
    """Half-open ranges [low, high) of a count that starts at 0 (finished trials, results logged): 0-9, 10-99, ..."""
    buckets, low = [], 0
    for edge in (*edges, math.inf):
        if low >= count:
            break
        high = int(min(edge, count))
        buckets.append((low, high))
        low = high
    return buckets


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env(**updates: str) -> dict[str, str]:
    """This process's environment without the caller's store and Ray variables, this Python's bin first on PATH."""
    env = {key: value for key, value in os.environ.items() if key not in POINTING_VARIABLES}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.update(updates)
    return env


def header(argv: list[str]) -> str:
    """Date, commit, machine and command, as docs/measurements.md records them."""
    import psutil

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " (+ uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    now = datetime.datetime.now(datetime.timezone.utc)
    memory = psutil.virtual_memory().total / 2**30
    versions = []
    for module in ("ray", "optuna", "mlflow", "psycopg2", "psycopg"):
        try:
            versions.append(f"{module} {__import__(module).__version__.split()[0]}")
        except ImportError:
            pass
    bindir = postgres_bindir()
    if bindir is not None:
        try:
            pg = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=30)
            versions.append(pg.stdout.strip().replace("postgres (PostgreSQL) ", "PostgreSQL "))
        except OSError:
            pass
    return (
        f"Recorded {now:%Y-%m-%d %H:%M} UTC in commit {commit}{dirty}.\n"
        f"Machine: {os.cpu_count()}-core CPU, {memory:.1f} GiB RAM, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; {', '.join(versions)}.\n"
        f"Reproduce: `{' '.join(['python', 'benchmarks/sweep_scale.py', *argv])}`"
    )


# ---------------------------------------------------------------------------------------------------------
# the tiny sweep
# ---------------------------------------------------------------------------------------------------------


def tiny_spec(
    name: str, trials: int, concurrency: int, epochs: int, checkpoint_every: int | None, memory_gib: float = 0
) -> dict:
    """The search-space file of a sweep of tiny trials: Barlow Twins on the bundled BasicMotions (as
    searchspaces/barlow.yaml), conv1d, 50-step windows, a projector of 16-64 units, kNN at 100 % labels only (no
    cross-validated objective, no untrained comparison), FIFO (every trial runs every epoch), one CPU per trial in
    the trial's own process, reserving ``memory_gib`` (0: nothing); a checkpoint every ``checkpoint_every``
    epochs (None: sslsweep's default) and at the last."""
    import yaml

    spec = yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text())
    spec.update(
        name=name,
        description=f"benchmarks/sweep_scale.py: {trials} tiny trials, {concurrency} at a time",
        evaluation={"protocols": ["knn"], "label_fractions": [1.0], "unit": "series", "compare_random_init": False},
        objective={"metric": "val/knn/acc/frac_1.0", "mode": "max"},
        search={
            "lr": {"type": "float", "low": 0.0003, "high": 0.003, "log": True},
            "lambda_offdiag": {"type": "float", "low": 0.001, "high": 0.01, "log": True},
            "projector_dim": {"type": "categorical", "choices": [16, 32, 64]},
            "batch_size": {"type": "categorical", "choices": [16, 32]},
        },
        fixed={
            "backbone": "conv1d",
            "projector_layers": 2,
            "projector_hidden_dim": 64,
            "optimizer": "adamw",
            "weight_decay": 0.00001,
        },
        budget={"trials": trials, "epochs": epochs, "max_concurrent": concurrency}
        | ({} if checkpoint_every is None else {"checkpoint_every": checkpoint_every}),
        resources={
            "workers": 1,
            "cpus_per_worker": 1,
            "gpus_per_worker": 0,
            "memory_gib_per_worker": memory_gib,
            "execution": "in_trial",
        },
        scheduler={"type": "fifo"},
    )
    spec["data"]["window"] = {"length": 50, "overlap": 0.5}
    return spec


def write_spec(directory: Path, spec: dict) -> Path:
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------------------
# services: PostgreSQL, mlflow server, the simulated Ray cluster
# ---------------------------------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The newest PostgreSQL server binaries (Debian: /usr/lib/postgresql/<version>/bin), else pg_ctl on PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)] or [0],
    )
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def postgres_driver() -> str | None:
    """SQLAlchemy's dialect+driver for the PostgreSQL driver importable here: psycopg2, else psycopg (3)."""
    for module, dialect in (("psycopg2", "postgresql+psycopg2"), ("psycopg", "postgresql+psycopg")):
        try:
            __import__(module)
            return dialect
        except ImportError:
            continue
    return None


@contextlib.contextmanager
def postgres(databases: tuple[str, ...], fsync: bool, keep: bool) -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust auth, loopback only, a free port) with the empty
    ``databases``; yields a SQLAlchemy URL per database. Stopped with ``pg_ctl stop`` on its own data dir.
    ``Unavailable`` where the binaries or the driver are missing or the server cannot start."""
    dialect = postgres_driver()
    if dialect is None:
        raise Unavailable("no PostgreSQL driver for Python: pip install psycopg2-binary")
    bindir = postgres_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        raise Unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="ssb-pg-", dir="/tmp"))  # short: it holds the server's Unix socket
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the `postgres` system user
        runuser = shutil.which("runuser")
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            user = None
        if user is None or runuser is None:
            shutil.rmtree(root, ignore_errors=True)
            raise Unavailable("running as root without a 'postgres' user or runuser to run PostgreSQL as")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = [runuser, "-u", "postgres", "--"]
    data, log, port = root / "data", root / "server.log", free_port()

    def pg(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *args], cwd=root, capture_output=True, text=True, timeout=timeout)

    started = False
    try:
        init = pg(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode != 0:
            raise Unavailable(f"initdb failed: {(init.stdout + init.stderr)[-800:]}")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=200"
        if not fsync:
            options += " -c fsync=off -c synchronous_commit=off"
        start = pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start")
        started = (data / "postmaster.pid").exists()
        if start.returncode != 0:
            raise Unavailable(f"PostgreSQL did not start: {(start.stdout + start.stderr)[-800:]}")
        created = pg(
            str(bindir / "psql"),
            "-h",
            str(root),
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            *[arg for db in databases for arg in ("-c", f"CREATE DATABASE {db}")],
        )
        if created.returncode != 0:
            raise Unavailable(f"CREATE DATABASE failed: {(created.stdout + created.stderr)[-800:]}")
        print(f"postgres   127.0.0.1:{port} (data {data}, fsync {'on' if fsync else 'off'})", flush=True)
        yield {db: f"{dialect}://postgres@127.0.0.1:{port}/{db}" for db in databases}
    finally:
        if started or (data / "postmaster.pid").exists():
            stopped = pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop")
            if stopped.returncode != 0:
                pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def wait_for_http(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            raise Unavailable(f"the server exited ({process.returncode}): {log.read_text()[-1500:]}")
        if time.monotonic() > deadline:
            raise Unavailable(f"{url} did not answer within {timeout:.0f} s: {log.read_text()[-1500:]}")
        time.sleep(1)


def stop_group(process: subprocess.Popen, first: int = signal.SIGTERM, grace: float = 30) -> None:
    """Stop the process group ``process`` leads (started with start_new_session): ``first``, SIGKILL after
    ``grace`` seconds, then SIGKILL to whatever of the group outlived its leader."""
    try:
        os.killpg(process.pid, first)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    except ProcessLookupError:
        process.wait(timeout=30)
    except KeyboardInterrupt:  # a second Ctrl-C while waiting: no more grace
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def mlflow_server(directory: Path, backend_uri: str, workers: int) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 (a free port) over ``backend_uri``, artifacts in ``directory``; its process
    group is stopped at the end. Yields its tracking URI."""
    directory.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), directory / "server.log"
    env = clean_env(
        MLFLOW_BACKEND_STORE_URI=backend_uri,  # in the environment, not on the command line (`ps`)
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",  # 3 processes and ~0.5 GiB instead of 11 and ~2.4 GiB
    )
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--artifacts-destination",
        str(directory / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with log.open("w") as output:
        server = subprocess.Popen(
            command, cwd=directory, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", server, 240, log)
        print(f"mlflow     http://127.0.0.1:{port} ({workers} worker(s), backend {backend_uri})", flush=True)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(server)


@dataclass
class Cluster:
    address: str  # the GCS address, for RAY_ADDRESS
    env: dict[str, str]  # what a driver needs to join it (token auth)
    temp_dir: Path  # the head's Ray temp dir: the driver's session dir is under it
    cpus: int


@contextlib.contextmanager
def local_cluster(
    work: Path,
    nodes: int,
    cpus_per_node: int,
    head_cpus: int,
    store_mb: int,
    keep: bool,
    worker_nice: int,
    node_memory_mb: int | None = None,
    **env,
):
    """A head and ``nodes`` worker nodes from cluster/local.sh, on free ports, token auth with a token file of its
    own; ``local.sh stop`` (by the process ids it recorded) at the end, also after a failed start. The worker
    nodes' processes (and the trial processes they start, which inherit it) run at ``worker_nice``; every node
    offers ``node_memory_mb`` to tasks and actors (None: Ray's default, the machine's free memory each)."""
    if shutil.which("setsid") is None:
        raise Unavailable("cluster/local.sh needs setsid (util-linux)")
    # Ray's temp dir holds Unix sockets (at most 107 bytes a path): a short directory of its own under /tmp. It
    # also keeps this cluster's address file away from any other ray.init() on the machine.
    ray_tmp = Path(tempfile.mkdtemp(prefix="ssb-ray-", dir="/tmp"))
    token = work / "ray_auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    ports = {name: free_port() for name in ("port", "dashboard-port", "agent-port")}
    cluster_env = clean_env(
        SSLSWEEP_LOCAL_CLUSTER_DIR=str(work / "local-cluster"),
        RAY_AUTH_TOKEN_PATH=str(token),
        RAY=RAY_BIN,
        **env,
    )
    command = [
        str(LOCAL_SH),
        "start",
        str(nodes),
        "--head-cpus",
        str(head_cpus),
        "--worker-cpus",
        str(cpus_per_node),
        "--object-store-mb",
        str(store_mb),
        "--temp-dir",
        str(ray_tmp),
        *[arg for name, port in ports.items() for arg in (f"--{name}", str(port))],
        *(
            ["--head-memory-mb", str(node_memory_mb), "--worker-memory-mb", str(node_memory_mb)]
            if node_memory_mb
            else []
        ),
    ]
    started = time.perf_counter()
    try:
        start = subprocess.run(command, env=cluster_env, capture_output=True, text=True, timeout=600)
        if start.returncode != 0:
            raise Unavailable(f"cluster/local.sh start failed: {(start.stdout + start.stderr)[-2500:]}")
        if worker_nice:
            for line in (work / "local-cluster" / "nodes").read_text().splitlines():
                name, leader = line.split()[:2]
                if name.startswith("worker"):  # local.sh starts each node as the leader of its process group
                    os.setpriority(os.PRIO_PGRP, int(leader), worker_nice)
        print(
            f"ray        head ({head_cpus} CPU) + {nodes} worker nodes x {cpus_per_node} CPU at "
            f"127.0.0.1:{ports['port']}, up in {time.perf_counter() - started:.0f} s (temp dir {ray_tmp}); "
            f"worker nodes at nice {worker_nice}"
            + (f", {node_memory_mb} MiB for tasks and actors per node" if node_memory_mb else ""),
            flush=True,
        )
        yield Cluster(
            address=f"127.0.0.1:{ports['port']}",
            env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)},
            temp_dir=ray_tmp,
            cpus=head_cpus + nodes * cpus_per_node,
        )
    finally:
        stop = subprocess.run([str(LOCAL_SH), "stop"], env=cluster_env, capture_output=True, text=True, timeout=600)
        if stop.returncode != 0:
            print(f"warning: cluster/local.sh stop: {(stop.stdout + stop.stderr)[-1500:]}", file=sys.stderr)
        if not keep:
            shutil.rmtree(ray_tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# a driver (python tune.py ...) watched from outside
# ---------------------------------------------------------------------------------------------------------


@dataclass
class StateObservation:
    """One look at an experiment-state file that had changed since the last look."""

    seen: float  # time.time() of the look
    where: str  # "staging" (the driver's session dir) or "storage" (SSLSWEEP_RAY_STORAGE)
    directory: str
    name: str
    mtime: float
    size: int


@dataclass
class DriverRun:
    label: str
    argv: list[str]
    started: float  # time.time()
    ended: float | None = None
    returncode: int | None = None
    lines: list[tuple[float, str, str]] = field(default_factory=list)  # (time, stream, text)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (time, bytes)
    state: list[StateObservation] = field(default_factory=list)
    staging_sizes: list[tuple[float, int, int]] = field(default_factory=list)  # (time, bytes, files)

    @property
    def wall(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


class Driver:
    """``python tune.py ARGS`` in a session of its own, its output read line by line (each line timestamped and
    written to ``log``), its resident memory sampled every second and Tune's experiment-state files polled
    every ``STATE_POLL_S`` seconds in ``ray_tmp`` (the driver's staging copy) and ``storage`` (the Ray storage
    dir)."""

    def __init__(self, label: str, argv: list[str], env: dict[str, str], log: Path, ray_tmp: Path, storage: Path):
        self.run = DriverRun(label, argv, time.time())
        self.ray_tmp, self.storage = ray_tmp, storage
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("a")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "tune.py", *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # a terminal's Ctrl-C does not reach it; interrupt() sends one to its group
        )
        self._threads = [
            threading.Thread(target=self._read, args=(self.process.stdout, "out"), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, "err"), daemon=True),
            threading.Thread(target=self._sample_rss, daemon=True),
            threading.Thread(target=self._watch_state, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, stream, name: str) -> None:
        for text in stream:
            now = time.time()
            with self._lock:
                self.run.lines.append((now, name, text.rstrip("\n")))
                self._log.write(f"{now:.3f} {name} {text}")

    def _sample_rss(self) -> None:
        import psutil

        try:
            process = psutil.Process(self.process.pid)
            while not self._stop.is_set():
                self.run.rss.append((time.time(), process.memory_info().rss))
                self._stop.wait(1.0)
        except psutil.Error:  # it ended
            return

    def _state_files(self) -> list[tuple[str, Path]]:
        """(where, path) of every experiment-state file of this sweep written since this driver started: the
        driver's staging copy (``<session dir>/artifacts/<timestamp>/<experiment>/driver_artifacts``; the session
        dir is the cluster's, under the head's temp dir; Ray's default temp dir is looked at too) and the copy in
        the Ray storage dir. The experiment is named after the Optuna study, ``<sweep name>-<date>-<id>``."""
        found = []
        staging = f"session_*/artifacts/*/{self.run.label}-*/driver_artifacts/experiment_state-*.json"
        patterns = (
            ("staging", self.ray_tmp, staging),
            ("staging", Path(tempfile.gettempdir()) / "ray", staging),
            ("storage", self.storage, f"{self.run.label}-*/experiment_state-*.json"),
        )
        for where, root, pattern in patterns:
            for path in root.glob(pattern):
                if "session_latest" in path.parts:  # a link to the session dir: the same files again
                    continue
                try:
                    if path.stat().st_mtime < self.run.started - 1:
                        continue
                except OSError:
                    continue
                session = path.name[len("experiment_state-") : -len(".json")]
                found += [(where, path.parent / name.format(session)) for name in STATE_FILES]
        return found

    def _watch_state(self) -> None:
        known: dict[Path, tuple[int, int]] = {}
        files: list[tuple[str, Path]] = []
        staging_dirs: set[Path] = set()
        last_glob = last_size = 0.0
        while not self._stop.is_set():
            now = time.time()
            if now - last_glob > 2.0:
                files, last_glob = self._state_files(), now
                staging_dirs = {path.parent for where, path in files if where == "staging"}
            for where, path in files:
                try:
                    stat = path.stat()
                except OSError:
                    continue
                key = (stat.st_mtime_ns, stat.st_size)
                if known.get(path) != key:
                    known[path] = key
                    self.run.state.append(
                        StateObservation(now, where, str(path.parent), path.name, stat.st_mtime, stat.st_size)
                    )
            if now - last_size > 10.0 and staging_dirs:
                last_size = now
                total = count = 0
                for directory in staging_dirs:
                    for base, _, names in os.walk(directory):
                        for name in names:
                            with contextlib.suppress(OSError):
                                total += os.stat(os.path.join(base, name)).st_size
                                count += 1
                self.run.staging_sizes.append((now, total, count))
            self._stop.wait(STATE_POLL_S)

    def poll(self) -> int | None:
        return self.process.poll()

    def interrupt(self) -> None:
        """Ctrl-C, as a terminal sends it: SIGINT to the driver's process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL to the driver alone (its trials are the cluster's; Ray ends the job's actors)."""
        os.kill(self.process.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> DriverRun:
        """Wait for the driver to exit (``subprocess.TimeoutExpired`` after ``timeout``), then stop watching."""
        self.process.wait(timeout=timeout)
        return self.finish()

    def finish(self) -> DriverRun:
        try:
            if self.process.poll() is None:  # Ctrl-C first, so the sweep closes its records; then SIGKILL
                stop_group(self.process, first=signal.SIGINT, grace=90)
        finally:
            self.run.ended = self.run.ended or time.time()
            self.run.returncode = self.process.returncode
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=10)
            self._log.close()
        return self.run

    def ended_trials(self) -> int:
        """How many trials the driver's console says ended (its ``(k/N ended)`` count)."""
        with self._lock:
            counts = [int(m[2]) for _, _, text in self.run.lines if (m := ENDED_LINE.match(text))]
        return max(counts, default=0)


# ---------------------------------------------------------------------------------------------------------
# reading a sweep back: MLflow, Optuna, Tune's result.json
# ---------------------------------------------------------------------------------------------------------


@dataclass
class TrialRecord:
    run_id: str
    trial_id: str
    index: int | None  # Tune's creation counter (1-based)
    number: str | None  # Optuna's trial number
    status: str
    outcome: str | None
    start: float | None  # seconds since the epoch
    end: float | None
    loss_points: list[tuple[int, float]]  # (step = epoch, MLflow timestamp in seconds), in time order


@dataclass
class SweepRecords:
    parent_id: str
    parent_status: str
    parent_end: float | None
    parent_tags: dict[str, str]
    parent_metric_times: dict[str, float]  # key -> first timestamp (s)
    study_name: str | None
    trials: list[TrialRecord]
    optuna: list[dict]  # number, state, steps


def read_records(tracking_uri: str, sweep: str, optuna_url: str) -> SweepRecords | None:
    """The sweep's latest parent run, its child runs with their ``train/loss`` histories, and its Optuna study."""
    import optuna
    from mlflow.tracking import MlflowClient

    from trainables.records.tags import (
        OPTUNA_STUDY_TAG,
        OUTCOME_TAG,
        PARENT_RUN_ID_TAG,
        ROLE_TAG,
        TRIAL_ID_TAG,
        TRIAL_INDEX_TAG,
        TRIAL_NUMBER_TAG,
        Role,
        tag_column,
    )

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(f"sslsweep/{sweep}")
    if experiment is None:
        return None
    parents = client.search_runs(
        [experiment.experiment_id],
        f"{tag_column(ROLE_TAG)} = '{Role.SWEEP}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not parents:
        return None
    parent = parents[0]
    children = client.search_runs(
        [experiment.experiment_id], f"{tag_column(PARENT_RUN_ID_TAG)} = '{parent.info.run_id}'", max_results=50_000
    )

    def history(run_id: str) -> list[tuple[int, float]]:
        points = client.get_metric_history(run_id, TRAINING_LOSS)
        return sorted(((int(m.step), m.timestamp / 1000) for m in points), key=lambda p: p[1])

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        histories = dict(zip([c.info.run_id for c in children], pool.map(history, [c.info.run_id for c in children])))
        parent_histories = dict(
            zip(
                parent.data.metrics,
                pool.map(lambda key: client.get_metric_history(parent.info.run_id, key), parent.data.metrics),
            )
        )
    trials = []
    for child in children:
        tags = child.data.tags
        index = tags.get(TRIAL_INDEX_TAG)
        trials.append(
            TrialRecord(
                run_id=child.info.run_id,
                trial_id=tags.get(TRIAL_ID_TAG, ""),
                index=int(index) if index and index.isdigit() else None,
                number=tags.get(TRIAL_NUMBER_TAG),
                status=child.info.status,
                outcome=tags.get(OUTCOME_TAG),
                start=child.info.start_time / 1000 if child.info.start_time else None,
                end=child.info.end_time / 1000 if child.info.end_time else None,
                loss_points=histories[child.info.run_id],
            )
        )
    study_name = parent.data.tags.get(OPTUNA_STUDY_TAG)
    study_trials = []
    if study_name:
        try:
            study = optuna.load_study(study_name=study_name, storage=optuna_url)
            study_trials = [
                {"number": t.number, "state": t.state.name, "steps": sorted(t.intermediate_values)}
                for t in study.get_trials(deepcopy=False)
            ]
        except Exception as error:  # noqa: BLE001 - reported as a missing study
            print(f"warning: Optuna study {study_name}: {type(error).__name__}: {error}", file=sys.stderr)
    return SweepRecords(
        parent_id=parent.info.run_id,
        parent_status=parent.info.status,
        parent_end=parent.info.end_time / 1000 if parent.info.end_time else None,
        parent_tags=dict(parent.data.tags),
        parent_metric_times={
            key: min(m.timestamp for m in points) / 1000 for key, points in parent_histories.items() if points
        },
        study_name=study_name,
        trials=trials,
        optuna=study_trials,
    )


def read_results(storage: Path, study_name: str | None) -> dict[str, list[dict]]:
    """Tune trial id -> its results in the order written (result.json in the Ray storage dir; the copy there is
    complete once the sweep has ended). Only the fields this benchmark reads are kept."""
    keep = (
        "trial_id",
        "epoch",
        "timestamp",
        "reported_at",
        "time_this_iter_s",
        "time_total_s",
        "iterations_since_restore",
        "pid",
    )
    results: dict[str, list[dict]] = {}
    if not study_name:
        return results
    for path in (storage / study_name).glob("*/result.json"):
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text[: text.rfind("\n") + 1].splitlines():
            try:
                result = json.loads(line)
            except ValueError:  # an empty or garbled line
                continue
            results.setdefault(result["trial_id"], []).append({k: result.get(k) for k in keep})
    return results


# ---------------------------------------------------------------------------------------------------------
# analysis: pure functions of what was read
# ---------------------------------------------------------------------------------------------------------


@dataclass
class TrialTiming:
    index: int
    wall: float  # its MLflow run's end - start
    work: float  # its own work: Tune's time_total_s of its last result
    overhead: float  # wall - work


def trial_timings(trials: list[TrialRecord], results: dict[str, list[dict]]) -> list[TrialTiming]:
    """Per-trial driver overhead: the trial's wall time in MLflow minus its own work, by Tune's trial index."""
    timings = []
    for trial in trials:
        lines = results.get(trial.trial_id)
        if trial.index is None or trial.start is None or trial.end is None or not lines:
            continue
        work = max(float(line.get("time_total_s") or 0.0) for line in lines)
        wall = trial.end - trial.start
        timings.append(TrialTiming(trial.index, wall, work, wall - work))
    return sorted(timings, key=lambda t: t.index)


def overhead_near(timings: list[TrialTiming], low: int, high: int) -> float | None:
    """The median overhead of the trials with index in [low, high]."""
    return median([t.overhead for t in timings if low <= t.index <= high])


@dataclass
class ResultLag:
    trial_id: str
    epoch: int
    lower: float  # the lag from the result's creation to its MLflow timestamp is above this ...
    upper: float  # ... and at most this (Ray's timestamp has whole seconds)
    between: float | None  # epochs k >= 2: MLflow time since the previous epoch minus this epoch's own work
    exact: float | None  # its MLflow timestamp minus the trial's own reported_at (sslsweep's REPORTED_AT), if any
    logged: float | None = None  # its MLflow timestamp: when the driver's callback took it


def result_lags(trials: list[TrialRecord], results: dict[str, list[dict]]) -> list[ResultLag]:
    """Pair each Tune result (epoch e of a trial, in the order written) with the MLflow ``train/loss`` point of
    the same trial and step (in time order: a resumed trial logs an epoch again)."""
    lags = []
    for trial in trials:
        lines = results.get(trial.trial_id) or []
        points: dict[int, list[float]] = {}
        for step, stamp in trial.loss_points:
            points.setdefault(step, []).append(stamp)
        used: dict[int, int] = {}
        previous: float | None = None
        for line in lines:
            epoch = line.get("epoch")
            if epoch is None or line.get("timestamp") is None:
                continue
            k = used.get(epoch, 0)
            if k >= len(points.get(epoch, [])):
                previous = None
                continue
            used[epoch] = k + 1
            logged = points[epoch][k]
            created = float(line["timestamp"])
            reported = line.get("reported_at")
            between = None
            if previous is not None and (line.get("iterations_since_restore") or 1) > 1:
                between = logged - previous - float(line.get("time_this_iter_s") or 0.0)
            exact = logged - float(reported) if reported is not None else None
            lags.append(
                ResultLag(trial.trial_id, int(epoch), logged - created - 1, logged - created, between, exact, logged)
            )
            previous = logged
    return lags


@dataclass
class TrialEnds:
    """The driver closing finished trials' runs (the callback's log_trial_end: the run's queued results written,
    its outcome, objective, artifacts and end), each from the MLflow timestamp of its last result to its run's
    end, against the results that were late."""

    closing_median: float | None  # seconds, one run's close
    closing_p95: float | None
    late: int  # results whose lag was over 1 s
    late_during_a_close: int  # ... whose lag overlapped another trial's close
    share_during_a_close: float | None  # of all results, the share whose lag overlapped one


def trial_ends(trials: list[TrialRecord], lags: list[ResultLag]) -> TrialEnds:
    spans = [
        (t.trial_id, t.loss_points[-1][1], t.end)
        for t in trials
        if t.loss_points and t.end and t.end >= t.loss_points[-1][1]
    ]
    closing = [end - start for _, start, end in spans]

    def during_a_close(lag: ResultLag) -> bool:
        begin = lag.logged - lag.exact
        return any(trial != lag.trial_id and start < lag.logged and end > begin for trial, start, end in spans)

    timed = [lag for lag in lags if lag.exact is not None and lag.logged is not None]
    late = [lag for lag in timed if lag.exact > 1]
    return TrialEnds(
        closing_median=median(closing),
        closing_p95=percentile(closing, 95),
        late=len(late),
        late_during_a_close=sum(during_a_close(lag) for lag in late),
        share_during_a_close=sum(during_a_close(lag) for lag in timed) / len(timed) if timed else None,
    )


@dataclass
class StateSave:
    directory: str
    first: float  # the earliest mtime seen of its experiment_state json (the file is truncated when written)
    json_end: float  # the json's last mtime
    end: float  # the last mtime among the save's four files
    json_size: int
    total_size: int  # the four files
    synced: float | None  # when the storage copy of the json was first seen at this size, after json_end


def group_saves(observations: list[StateObservation]) -> list[StateSave]:
    """Experiment-state saves from the polled files: a change of the staging experiment_state json more than
    ``SAVE_GAP_S`` after the previous one begins a save; the save's other three files are those changed before
    the next save began; its storage copy, the first look at the storage json with the same size after it."""
    staging = [o for o in observations if o.where == "staging"]
    storage = sorted((o for o in observations if o.where == "storage"), key=lambda o: o.seen)
    saves: list[StateSave] = []
    groups: list[list[StateObservation]] = []
    for o in sorted((o for o in staging if o.name.startswith("experiment_state-")), key=lambda o: o.mtime):
        if groups and groups[-1][-1].directory == o.directory and o.mtime - groups[-1][-1].mtime <= SAVE_GAP_S:
            groups[-1].append(o)
        else:
            groups.append([o])
    for i, group in enumerate(groups):
        first, json_end, size = group[0].mtime, group[-1].mtime, group[-1].size
        following = groups[i + 1][0].mtime if i + 1 < len(groups) else math.inf
        others: dict[str, StateObservation] = {}  # the save's other files: their last change before the next save
        for o in staging:
            if o.directory != group[0].directory or o.name.startswith("experiment_state-"):
                continue
            if first <= o.mtime < following and (o.name not in others or o.mtime > others[o.name].mtime):
                others[o.name] = o
        end = max([json_end, *(o.mtime for o in others.values())])
        synced = next(
            (
                o.seen
                for o in storage
                if o.name == group[0].name and o.size == size and o.seen >= json_end and o.seen < following + 5
            ),
            None,
        )
        saves.append(
            StateSave(
                group[0].directory, first, json_end, end, size, size + sum(o.size for o in others.values()), synced
            )
        )
    return saves


def rss_at_progress(
    samples: list[tuple[float, int]], end_times: list[float], fractions: tuple[float, ...] = (0, 0.25, 0.5, 0.75, 1.0)
) -> list[tuple[float, float | None, int | None]]:
    """(fraction of trials ended, when, the driver's RSS then: its last sample at or before that time)."""
    rows: list[tuple[float, float | None, int | None]] = []
    ends = sorted(end_times)
    for fraction in fractions:
        if fraction == 0:
            when = samples[0][0] if samples else None
        elif ends:
            when = ends[max(0, math.ceil(fraction * len(ends)) - 1)]
        else:
            when = None
        before = [rss for t, rss in samples if when is not None and t <= when]
        rows.append((fraction, when, before[-1] if before else (samples[0][1] if samples and when else None)))
    return rows


def tune_warnings(lines: list[tuple[float, str, str]]) -> dict[str, tuple[int, float | None]]:
    """Tune's own slow-processing warnings in the driver's output: name -> (count, longest duration in s)."""
    found: dict[str, tuple[int, float | None]] = {}
    for _, _, text in lines:
        for name, pattern in TUNE_WARNINGS.items():
            match = pattern.search(text)
            if match:
                count, longest = found.get(name, (0, None))
                seconds = float(match.groups()[-1]) if match.groups() else None
                found[name] = (count + 1, max(filter(None, (longest, seconds)), default=None))
    return found


def records_check(records: SweepRecords | None, trials: int, epochs: int) -> dict[str, Any]:
    """Nothing lost: one run per trial, each FINISHED with every epoch of ``train/loss``; every Optuna trial
    COMPLETE with every step. Counts, and ``ok`` when all hold."""
    if records is None:
        return {"ok": False, "runs": 0, "note": "no parent run"}
    wanted = set(range(1, epochs + 1))
    runs = records.trials
    finished = [r for r in runs if r.status == "FINISHED" and r.outcome == "finished"]
    complete_epochs = [r for r in runs if wanted <= {step for step, _ in r.loss_points}]
    repeated = sum(len(r.loss_points) - len({s for s, _ in r.loss_points}) for r in runs)
    complete = [t for t in records.optuna if t["state"] == "COMPLETE"]
    all_steps = [t for t in complete if wanted <= set(t["steps"])]
    numbers = [r.number for r in runs if r.number is not None]
    check = {
        "runs": len(runs),
        "finished": len(finished),
        "all epochs": len(complete_epochs),
        "epochs logged twice": repeated,
        "unique trial ids": len({r.trial_id for r in runs}) == len(runs),
        "unique trial numbers": len(set(numbers)) == len(numbers),
        "optuna trials": len(records.optuna),
        "optuna complete": len(complete),
        "optuna all steps": len(all_steps),
        "parent": records.parent_status,
    }
    check["ok"] = (
        len(runs) == trials
        and len(finished) == trials
        and len(complete_epochs) == trials
        and check["unique trial ids"]
        and check["unique trial numbers"]
        and len(complete) == trials
        and len(all_steps) == trials
        and records.parent_status == "FINISHED"
    )
    return check


def end_of_sweep_times(records: SweepRecords | None) -> tuple[float | None, float | None]:
    """(the sweep's own report and selection, the registry) in seconds, from the parent run: the report runs
    between the ``sweep/data_preparations`` metric and the answer's metrics; the registry (with the copy of the
    best backbone) between those and the run's end."""
    if records is None or "sweep/data_preparations" not in records.parent_metric_times:
        return None, None
    prepared = records.parent_metric_times["sweep/data_preparations"]
    answered = [
        t for key, t in records.parent_metric_times.items() if key != "sweep/data_preparations" and t >= prepared
    ]
    if not answered:
        return None, None
    answer = min(answered)
    registry = records.parent_end - answer if records.parent_end else None
    return answer - prepared, registry


# ---------------------------------------------------------------------------------------------------------
# phase 1: storage latency, in-process
# ---------------------------------------------------------------------------------------------------------


def optuna_latency(url: str, spec, trials: int, in_flight: int, epochs: int, seed: int = 0) -> dict[str, list]:
    """Ask / report / tell against a new study in ``url`` with the sweep's sampler and space, ``in_flight`` trials
    asked before the oldest is told (as the sweep's ConcurrencyLimiter allows); the oldest reports ``epochs``
    intermediate values, then is told. Returns per operation a list of (finished trials then, seconds)."""
    import optuna

    from trainables.sweep.searcher import optuna_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(
        storage=storage,
        sampler=optuna_sampler(spec.sampler, seed),
        pruner=optuna.pruners.NopPruner(),
        study_name=f"sweep-scale-{uuid.uuid4().hex[:8]}",
        direction="maximize",
    )
    space, rng = spec.optuna_space(), random.Random(seed)
    timings: dict[str, list] = {"ask": [], "report": [], "tell": []}
    running: list = []
    asked = finished = 0
    while finished < trials:
        if len(running) < in_flight and asked < trials:
            start = time.perf_counter()
            running.append(study.ask(fixed_distributions=space))
            timings["ask"].append((finished, time.perf_counter() - start))
            asked += 1
            continue
        trial = running.pop(0)
        value = -abs(math.log10(trial.params.get("lr", 1e-3)) + 3) + rng.random() * 0.1
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            trial.report(value * epoch / epochs, epoch)
            timings["report"].append((finished, time.perf_counter() - start))
        start = time.perf_counter()
        study.tell(trial, value)
        timings["tell"].append((finished, time.perf_counter() - start))
        finished += 1
    return timings


def mlflow_latency(
    uri: str, artifact_root: str | None, trials: int, in_flight: int, epochs: int, metrics: int, synchronous: bool
):
    """What the sweep's MLflow callback does per trial, against ``uri``: create_run with 15 tags and 15 params,
    then per epoch ``metrics`` metrics and the checkpoint tag (every epoch checkpoints here), then set_terminated;
    ``in_flight`` trials interleaved epoch by epoch. ``synchronous``: every write returns once written (sslsweep
    before ``RunWriter``); else as ``SweepMLflowCallback`` writes now: the run's creation (with its params), its
    results and its end queued to a ``RunWriter`` under a key of the trial's, and written by its threads. Returns per
    operation a list of (results logged before, seconds on the calling thread), with ``flush``: the wait at the end
    for what was still queued."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from trainables.records.tags import CHECKPOINT_TAG
    from trainables.tracking.writer import RunWriter

    client = MlflowClient(uri)
    writer = RunWriter(uri)
    name = f"sweep-scale/log_batch-{uuid.uuid4().hex[:8]}"
    location = f"{artifact_root}/{name}" if artifact_root else None
    experiment = client.create_experiment(name, artifact_location=location)
    keys = [TRAINING_LOSS, "health/embedding_std", "health/rankme"] + [
        f"val/knn/metric_{i}/frac_1.0" for i in range(metrics)
    ]
    keys = keys[:metrics]
    timings: dict[str, list] = {"create_run + params": [], "result": [], "end": [], "flush": []}
    logged = 0
    for wave in range(0, trials, in_flight):
        runs = []
        for i in range(wave, min(trials, wave + in_flight)):
            start = time.perf_counter()
            tags = {f"benchmark.tag_{k}": f"value-{i}-{k}" for k in range(15)}  # as many as a trial's run carries
            params = [Param(f"param_{k}", str(k * 0.1)) for k in range(15)]
            if synchronous:
                run = client.create_run(experiment, tags=tags, run_name=f"trial-{i}").info.run_id
                client.log_batch(run, params=params)  # with the run, as the sweep's callback writes them
            else:
                run = f"trial-{i}"  # the writer's key: the callback's is the Tune trial id

                def make(writing: MlflowClient, tags=tags, name=run) -> str:
                    return writing.create_run(experiment, tags=tags, run_name=name).info.run_id

                def fill(writing: MlflowClient, run_id: str, params=params) -> None:
                    writing.log_batch(run_id, params=params)

                writer.open(run, make, fill)
            timings["create_run + params"].append((logged, time.perf_counter() - start))
            runs.append(run)
        for epoch in range(1, epochs + 1):
            for run in runs:
                now = int(time.time() * 1000)
                batch = [Metric(key, random.random(), now, epoch) for key in keys]
                checkpoint = f"/checkpoints/{run}/{epoch}"
                start = time.perf_counter()
                if synchronous:
                    client.log_batch(run, metrics=batch)
                    client.set_tag(run, CHECKPOINT_TAG, checkpoint)
                else:
                    writer.log(run, batch, [RunTag(CHECKPOINT_TAG, checkpoint)])
                timings["result"].append((logged, time.perf_counter() - start))
                logged += 1
        for run in runs:
            start = time.perf_counter()
            if synchronous:
                client.set_terminated(run, status="FINISHED")
            else:  # written on the ends' thread after the run's results
                writer.close(run, lambda writing, run_id: writing.set_terminated(run_id, status="FINISHED"))
            timings["end"].append((logged, time.perf_counter() - start))
    start = time.perf_counter()
    writer.flush()
    timings["flush"].append((logged, time.perf_counter() - start))
    return timings


def latency_rows(backend: str, timings: dict[str, list], total: int) -> list[list[str]]:
    """Table rows: per range of the count (finished trials / results logged), each operation's median and p95."""
    rows = []
    buckets = count_buckets(total)
    for low, high in buckets:
        last = (low, high) == buckets[-1]  # the last range takes in the count's end (ends logged after it)
        row = [backend, f"{low}-{high if last else high - 1}"]
        for samples in timings.values():
            seconds = [s for n, s in samples if low <= n < high or (last and n >= high)]
            row += [fmt(median(seconds), 1, 1000), fmt(percentile(seconds, 95), 1, 1000)]
        rows.append(row)
    return rows


def storage_phase(args, spec, stores: dict[str, str], work: Path) -> dict:
    """Optuna on sqlite and PostgreSQL; MLflow on a sqlite store and through the server."""
    from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT

    os.environ[MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.name] = "true"  # as the sweep's driver does
    figures: dict[str, Any] = {"optuna": {}, "mlflow": {}}
    optuna_backends = {"sqlite": f"sqlite:///{work / 'storage-bench' / 'optuna.db'}"}
    if stores.get("optuna_bench"):
        optuna_backends["postgresql"] = stores["optuna_bench"]
    (work / "storage-bench").mkdir(parents=True, exist_ok=True)
    optuna_rows = []
    for backend, url in optuna_backends.items():
        started = time.perf_counter()
        timings = optuna_latency(url, spec, args.storage_trials, args.storage_concurrency, args.epochs)
        print(
            f"optuna     {backend}: {args.storage_trials} trials in {time.perf_counter() - started:.0f} s", flush=True
        )
        figures["optuna"][backend] = timings
        optuna_rows += latency_rows(backend, timings, args.storage_trials)
    print_table(
        f"Optuna latency against finished trials ({args.storage_trials} trials, {args.storage_concurrency} in flight, "
        f"{args.epochs} reports each; the sweep's TPE sampler and space), ms",
        ["storage", "finished", "ask med", "ask p95", "report med", "report p95", "tell med", "tell p95"],
        optuna_rows,
        None if "postgresql" in optuna_backends else "PostgreSQL not measured: " + stores.get("why", "unavailable"),
    )
    mlflow_backends = {
        "sqlite (in-process)": (
            f"sqlite:///{work / 'storage-bench' / 'mlflow.db'}",
            (work / "storage-bench" / "mlartifacts").as_uri(),
        ),
        f"server ({stores['server_backend']})": (stores["mlflow"], None),
    }
    mlflow_rows = []
    results = args.mlflow_trials * args.epochs
    for store, (uri, artifacts) in mlflow_backends.items():
        for synchronous in (True, False):
            backend = f"{store}, {'synchronous' if synchronous else 'queued'}"
            started = time.perf_counter()
            timings = mlflow_latency(
                uri,
                artifacts,
                args.mlflow_trials,
                args.storage_concurrency,
                args.epochs,
                args.metrics_per_result,
                synchronous,
            )
            print(f"mlflow     {backend}: {results} results in {time.perf_counter() - started:.0f} s", flush=True)
            figures["mlflow"][backend] = timings
            mlflow_rows += latency_rows(backend, timings, results)
    print_table(
        f"MLflow latency against results logged ({args.mlflow_trials} trials x {args.epochs} results of "
        f"{args.metrics_per_result} metrics, {args.storage_concurrency} runs open), ms",
        [
            "store",
            "logged",
            "create med",
            "create p95",
            "result med",
            "result p95",
            "end med",
            "end p95",
            "flush med",
            "flush p95",
        ],
        mlflow_rows,
        "create = create_run + the trial's params; result = one result's metrics + the checkpoint tag; end = "
        "set_terminated; on the calling thread (Tune's event loop in a sweep). synchronous: each write returns once "
        "written (sslsweep before); queued: the run's creation, results and end go to RunWriter's threads "
        "(SweepMLflowCallback now); flush = the wait at the end for what was still queued",
    )
    return figures


# ---------------------------------------------------------------------------------------------------------
# phase 2: sweeps
# ---------------------------------------------------------------------------------------------------------


@dataclass
class SweepFigures:
    name: str
    trials: int
    concurrency: int
    returncode: int | None
    wall: float | None
    records: dict
    timings: list[TrialTiming]
    lags: list[ResultLag]
    ends: TrialEnds
    saves: list[StateSave]
    staging: tuple[int, int] | None  # bytes, files at the last look
    rss: list[tuple[float, float | None, int | None]]
    rss_peak: int | None
    warnings: dict[str, tuple[int, float | None]]
    in_sweep_report: float | None
    registry: float | None
    report_command: float | None = None
    report_returncode: int | None = None


def driver_env(cluster: Cluster, stores: dict[str, str], home: Path) -> dict[str, str]:
    return clean_env(
        RAY_ADDRESS=cluster.address,
        **cluster.env,
        SSLSWEEP_HOME=str(home),
        SSLSWEEP_REPORTS_DIR=str(home / "reports"),
        MLFLOW_TRACKING_URI=stores["mlflow"],
        SSLSWEEP_OPTUNA_STORAGE=stores["optuna"],
    )


def analyse(run: DriverRun, records: SweepRecords | None, results, trials: int, concurrency: int, epochs: int):
    timings = trial_timings(records.trials, results) if records else []
    lags = result_lags(records.trials, results) if records else []
    ends = [t.end for t in records.trials if t.end] if records else []
    in_sweep_report, registry = end_of_sweep_times(records)
    return SweepFigures(
        name=run.label,
        trials=trials,
        concurrency=concurrency,
        returncode=run.returncode,
        wall=run.wall,
        records=records_check(records, trials, epochs),
        timings=timings,
        lags=lags,
        ends=trial_ends(records.trials if records else [], lags),
        saves=group_saves(run.state),
        staging=run.staging_sizes[-1][1:] if run.staging_sizes else None,
        rss=rss_at_progress(run.rss, ends),
        rss_peak=max((rss for _, rss in run.rss), default=None),
        warnings=tune_warnings(run.lines),
        in_sweep_report=in_sweep_report,
        registry=registry,
    )


def time_report(parent_id: str, name: str, env: dict[str, str], log: Path) -> tuple[float, int]:
    """``python tune.py report <parent run>`` as a new process: (seconds, exit code)."""
    env = {k: v for k, v in env.items() if not k.startswith("RAY_")}
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "tune.py", "report", parent_id, "--name", f"{name}-report"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, 124
    seconds = time.perf_counter() - start
    log.write_text(done.stdout + done.stderr)
    return seconds, done.returncode


def follow(driver: Driver, trials: int, timeout: float, every: float = 60) -> DriverRun:
    """Wait for the driver, printing its progress every ``every`` seconds; Ctrl-C to it after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return driver.wait(timeout=min(every, max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() >= deadline:
            print(f"warning: {driver.run.label} ran past --sweep-timeout {timeout:.0f} s: interrupted", file=sys.stderr)
            return driver.finish()
        rss = driver.run.rss[-1][1] / 2**20 if driver.run.rss else 0
        print(
            f"           {driver.run.label}: {driver.ended_trials()}/{trials} ended after "
            f"{time.time() - driver.run.started:.0f} s, driver RSS {rss:.0f} MB",
            flush=True,
        )


def sweeps_phase(args, cluster: Cluster, stores: dict[str, str], work: Path, figures: list[SweepFigures]) -> None:
    home = work / "home"
    env = driver_env(cluster, stores, home)
    for trials in args.trials:
        for concurrency in args.concurrency:
            if concurrency == 1 and args.serial_trials_cap and trials > args.serial_trials_cap:
                print(f"skipped    {trials} trials at concurrency 1 (--serial-trials-cap {args.serial_trials_cap})")
                continue
            name = f"scale-n{trials}-c{concurrency}"
            path = write_spec(
                work / "specs",
                tiny_spec(name, trials, concurrency, args.epochs, args.checkpoint_every, args.memory_gib_per_trial),
            )
            print(f"sweep      {name}: started {datetime.datetime.now():%H:%M:%S}", flush=True)
            driver = Driver(
                name,
                [str(path), "--trials", str(trials)],
                env,
                work / "logs" / f"{name}.log",
                cluster.temp_dir,
                home / "ray_results",
            )
            try:
                run = follow(driver, trials, args.sweep_timeout)
            finally:
                if driver.poll() is None:
                    driver.finish()
            records = read_records(stores["mlflow"], name, stores["optuna"])
            results = read_results(home / "ray_results", records.study_name if records else None)
            sweep = analyse(run, records, results, trials, concurrency, args.epochs)
            if records is not None and not args.no_report:
                sweep.report_command, sweep.report_returncode = time_report(
                    records.parent_id, name, env, work / "logs" / f"{name}-report.log"
                )
            figures.append(sweep)
            print(
                f"sweep      {name}: exit {run.returncode} after {fmt(run.wall, 0)} s, "
                f"{sweep.records.get('finished', 0)}/{trials} finished, nothing lost: "
                f"{'yes' if sweep.records.get('ok') else 'NO'}"
                + (f"; tune.py report {sweep.report_command:.1f} s" if sweep.report_command else ""),
                flush=True,
            )


def print_sweep_tables(figures: list[SweepFigures], epochs: int) -> None:
    if not figures:
        return
    rows = []
    for f in figures:
        work = sum(t.work for t in f.timings)
        rows.append(
            [
                f.name,
                f.trials,
                f.concurrency,
                fmt(f.returncode),
                fmt(f.wall, 0),
                fmt(f.trials / f.wall * 60 if f.wall else None, 1),
                fmt(work / (f.wall * f.concurrency) if f.wall else None, 2),
                fmt(f.rss_peak / 2**20 if f.rss_peak else None, 0),
            ]
        )
    print_table(
        "Sweeps: wall clock and throughput",
        ["sweep", "trials", "conc.", "exit", "wall s", "trials/min", "busy", "driver peak RSS MB"],
        rows,
        "busy = the trials' own work / (wall x concurrency): 1 would be every slot working all the time",
    )

    rows = []
    for f in figures:
        for low, high in index_buckets(f.trials):
            chosen = [t for t in f.timings if low <= t.index <= high]
            rows.append(
                [
                    f.name,
                    f"{low}-{high}",
                    len(chosen),
                    fmt(median([t.wall for t in chosen]), 2),
                    fmt(median([t.work for t in chosen]), 2),
                    fmt(median([t.overhead for t in chosen]), 2),
                    fmt(percentile([t.overhead for t in chosen], 95), 2),
                    fmt(max((t.overhead for t in chosen), default=None), 2),
                ]
            )
    print_table(
        "Per-trial driver overhead against trial index (s)",
        ["sweep", "trial index", "trials", "wall med", "work med", "overhead med", "overhead p95", "overhead max"],
        rows,
        "wall = the trial's MLflow run end - start (the times the driver's Tune started and ended the trial); work = "
        "its Tune time_total_s (the epochs and the final evaluation in the trial); overhead = wall - work: the "
        "actor's start and the trial's waits on the driver",
    )

    rows = []
    for f in figures:
        early = overhead_near(f.timings, 6, 15)
        late = overhead_near(f.timings, f.trials - 9, f.trials)
        ratio = late / early if early and late is not None and early > 0 else None
        # Ten trials' median moves by a fifth between neighbouring windows (trials 981-990 against 991-1000: 0.36
        # against 0.52 s in one run); where the sweep has them, the verdict is on fifty.
        wide = f.trials >= 2 * WIDE_WINDOW
        early_wide = overhead_near(f.timings, 1, WIDE_WINDOW) if wide else None
        late_wide = overhead_near(f.timings, f.trials - WIDE_WINDOW + 1, f.trials) if wide else None
        ratio_wide = late_wide / early_wide if early_wide and late_wide is not None and early_wide > 0 else None
        judged = ratio_wide if wide else ratio
        rows.append(
            [
                f.name,
                fmt(early, 2),
                fmt(late, 2),
                fmt(ratio, 2),
                fmt(early_wide, 2),
                fmt(late_wide, 2),
                fmt(ratio_wide, 2),
                verdict(None if judged is None else judged <= 1.2),
            ]
        )
    print_table(
        "Overhead at the last trials against trial 10 (target at concurrency 32, 1,000 trials: within 20 %)",
        [
            "sweep",
            "trials 6-15 med s",
            "last 10 med s",
            "ratio",
            f"first {WIDE_WINDOW} med s",
            f"last {WIDE_WINDOW} med s",
            "ratio",
            "within 20 %",
        ],
        rows,
        f"the verdict is on the {WIDE_WINDOW}-trial windows where a sweep has {2 * WIDE_WINDOW} trials or more, else on"
        " the 10-trial ones",
    )

    rows = []
    for f in figures:
        between = [lag.between for lag in f.lags if lag.between is not None]
        exact = [lag.exact for lag in f.lags if lag.exact is not None]
        if f.lags and len(exact) == len(f.lags):  # every result carries the trial's own report time
            lags, over, met = exact, sum(1 for lag in exact if lag > 1), max(exact) <= 1
        else:  # bounded by Ray's whole-second result timestamps
            worst_lower = max((lag.lower for lag in f.lags), default=None)
            worst_upper = max((lag.upper for lag in f.lags), default=None)
            lags, over = [lag.upper for lag in f.lags], sum(1 for lag in f.lags if lag.lower > 1)
            met = None if worst_upper is None else (True if worst_upper <= 1 else (False if worst_lower > 1 else None))
        rows.append(
            [
                f.name,
                len(f.lags),
                fmt(median(between), 0, 1000),
                fmt(percentile(between, 95), 0, 1000),
                fmt(max(between, default=None), 0, 1000),
                "exact" if lags is exact else "<= (bound)",
                fmt(median(lags), 0, 1000),
                fmt(percentile(lags, 95), 0, 1000),
                fmt(max(lags, default=None), 0, 1000),
                over,
                verdict(met) if met is not None else "unclear",
            ]
        )
    print_table(
        "Result processing: how far the driver is behind the trials",
        [
            "sweep",
            "results",
            "wait med ms",
            "wait p95 ms",
            "wait max ms",
            "lag is",
            "lag med ms",
            "lag p95 ms",
            "lag max ms",
            "results > 1 s",
            "never > 1 s",
        ],
        rows,
        "lag = from the trial handing its result to Ray (its reported_at, after the epoch's checkpoint) to the driver's "
        "MLflow callback taking it (the metric's timestamp): how far result processing is behind the trials; "
        "'<= (bound)' where results carry no reported_at (sslsweep before it), from Ray's whole-second result "
        "timestamp, an upper bound; wait = for epoch k >= 2 of a trial, MLflow time since epoch k-1 minus the "
        "epoch's own time_this_iter_s: the trial's whole round trip per result, its own share of the cores "
        "included (a trial blocks after each report until the driver asks for the next); target at concurrency "
        "32: lag never more than 1 s",
    )
    print_table(
        "Closing finished trials' runs, against the late results",
        ["sweep", "close med s", "close p95 s", "results > 1 s", "of them during a close", "all results during one"],
        [
            [
                f.name,
                fmt(f.ends.closing_median, 2),
                fmt(f.ends.closing_p95, 2),
                f.ends.late,
                f.ends.late_during_a_close,
                fmt(f.ends.share_during_a_close, 2),
            ]
            for f in figures
        ],
        "close = from a trial's last result to its run's end time in MLflow (when the driver's Tune ended the trial; "
        "its run's records are written after, on the callback's writer threads); 'during a close': "
        "the result's lag (reported_at to the driver's callback) overlapped another trial's close",
    )
    rows = [
        [f.name, name, count, fmt(longest, 2)]
        for f in figures
        for name, (count, longest) in (f.warnings or {"none": (0, None)}).items()
    ]
    print_table(
        "Tune's own warnings in the driver's output",
        ["sweep", "warning", "count", "longest s"],
        rows,
        "processing trial results / slow operation: Tune's warn_if_slow (over 0.5 s, after the driver's first 60 s); "
        "slow state save: an experiment-state sync over 30 s",
    )

    rows = []
    for f in figures:
        saves = f.saves
        intervals = [b.first - a.first for a, b in zip(saves, saves[1:])]
        writes = [s.end - s.first for s in saves]
        syncs = [s.synced - s.json_end for s in saves if s.synced is not None]
        rows.append(
            [
                f.name,
                len(saves),
                fmt(median(intervals), 1),
                fmt(saves[0].json_size / 1024 if saves else None, 0),
                fmt(saves[-1].json_size / 1024 if saves else None, 0),
                fmt(saves[-1].total_size / 1024 if saves else None, 0),
                fmt(median(writes), 0, 1000),
                fmt(max(writes, default=None), 0, 1000),
                fmt(median(syncs), 0, 1000),
                fmt(max(syncs, default=None), 0, 1000),
                fmt(f.staging[0] / 2**20 if f.staging else None, 1),
                fmt(f.staging[1] if f.staging else None),
            ]
        )
    print_table(
        "Experiment-state saves (Tune's experiment_state-*.json + search_gen_state, searcher-state, callback-states)",
        [
            "sweep",
            "saves",
            "every s",
            "first KB",
            "last KB",
            "last 4 files KB",
            "write med ms",
            "write max ms",
            "to storage med ms",
            "max ms",
            "staging MB",
            "files",
        ],
        rows,
        f"write = last mtime of a save's four files - the first mtime seen of its json (a lower bound; polled every "
        f"{STATE_POLL_S} s); to storage = when the Ray storage copy of the json was first seen at that size; "
        f"staging = the driver's staging dir (every trial's result files), all of which each save uploads",
    )

    rows = []
    for f in figures:
        row = [f.name]
        for _, _, rss in f.rss:
            row.append(fmt(rss / 2**20 if rss else None, 0))
        rows.append(row + [fmt(f.rss_peak / 2**20 if f.rss_peak else None, 0)])
    print_table(
        "Driver resident memory against trials ended (MB)",
        ["sweep", "start", "25 %", "50 %", "75 %", "100 %", "peak"],
        rows,
        "sampled every second (psutil) from the tune.py process",
    )

    rows = []
    for f in figures:
        big = f.trials >= 1000
        rows.append(
            [
                f.name,
                fmt(f.in_sweep_report, 1),
                fmt(f.registry, 1),
                verdict(f.registry <= 10 if big and f.registry is not None else None),
                fmt(f.report_command, 1)
                + ("" if f.report_returncode in (0, None) else f" (exit {f.report_returncode})"),
                verdict(f.report_command < 60 if big and f.report_command is not None else None),
            ]
        )
    print_table(
        "End of the sweep: report and registry (s)",
        ["sweep", "in-sweep report", "registry", "< 10 s (1,000)", "tune.py report", "< 60 s (1,000)"],
        rows,
        "in-sweep report = parent run's sweep/data_preparations metric to its answer's metrics (report + "
        "selection); registry = the answer to the parent run's end (best backbone copy + registry); tune.py "
        "report = the whole command as a new process over the sweep",
    )

    rows = []
    for f in figures:
        r = f.records
        rows.append(
            [
                f.name,
                *(
                    fmt(r.get(key))
                    for key in (
                        "runs",
                        "finished",
                        "all epochs",
                        "epochs logged twice",
                        "optuna complete",
                        "optuna all steps",
                        "parent",
                    )
                ),
                "yes" if r.get("ok") else "NO",
            ]
        )
    print_table(
        f"Records after a normal end: every trial's every epoch ({epochs}) in MLflow and Optuna",
        [
            "sweep",
            "runs",
            "FINISHED",
            "all epochs",
            "epochs twice",
            "optuna COMPLETE",
            "all steps",
            "parent",
            "nothing lost",
        ],
        rows,
    )


# ---------------------------------------------------------------------------------------------------------
# phase 3: Ctrl-C, SIGKILL, --resume
# ---------------------------------------------------------------------------------------------------------


def finished_runs(tracking_uri: str, sweep: str) -> int:
    """How many trial runs of the sweep's experiment are FINISHED (all its parent runs)."""
    from mlflow.tracking import MlflowClient

    from trainables.records.tags import ROLE_TAG, Role, tag_column

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(f"sslsweep/{sweep}")
    if experiment is None:
        return 0
    runs = client.search_runs(
        [experiment.experiment_id],
        f"attributes.status = 'FINISHED' AND {tag_column(ROLE_TAG)} = '{Role.TRIAL}'",
        max_results=50_000,
    )
    return len(runs)


def wait_for(condition: Callable[[], bool], driver: Driver, timeout: float) -> bool:
    """Poll ``condition`` every 3 s until it holds (True), the driver exits or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.poll() is not None:
            return False
        with contextlib.suppress(Exception):  # the server busy: ask again
            if condition():
                return True
        time.sleep(3)
    return False


def resume_phase(args, cluster: Cluster, stores: dict[str, str], work: Path) -> dict:
    """The sweep interrupted by Ctrl-C at a third, resumed, SIGKILLed at two thirds, resumed to the end."""
    from trainables.records.tags import RESUMES_TAG

    trials, concurrency = args.resume_trials, args.resume_concurrency
    home = work / "home"
    env = driver_env(cluster, stores, home)
    name = f"scale-resume-n{trials}-c{concurrency}"
    path = write_spec(
        work / "specs",
        tiny_spec(name, trials, concurrency, args.epochs, args.checkpoint_every, args.memory_gib_per_trial),
    )
    argv = [str(path), "--trials", str(trials)]
    steps: list[list[str]] = []

    def step(label: str, extra: list[str], until: int | None, signal_name: str) -> DriverRun:
        driver = Driver(name, argv + extra, env, work / "logs" / f"{name}.log", cluster.temp_dir, home / "ray_results")
        sent = None
        try:
            if until is not None:
                reached = wait_for(lambda: finished_runs(stores["mlflow"], name) >= until, driver, args.sweep_timeout)
                if reached and driver.poll() is None:
                    if signal_name == "SIGINT":
                        driver.interrupt()
                    else:
                        time.sleep(2.5)  # a moment on, as tests/test_resume.py does
                        driver.kill()
                    sent = time.time()
            run = driver.wait(timeout=args.sweep_timeout)
        except subprocess.TimeoutExpired:
            run = driver.finish()
        finally:
            if driver.poll() is None:
                driver.finish()
        records = read_records(stores["mlflow"], name, stores["optuna"])
        runs = records.trials if records else []
        statuses = {
            status: sum(1 for r in runs if r.status == status) for status in ("FINISHED", "RUNNING", "KILLED", "FAILED")
        }
        steps.append(
            [
                label,
                signal_name if sent else "-",
                fmt(run.returncode),
                fmt(run.wall, 0),
                fmt(run.ended - sent if sent and run.ended else None, 1),
                records.parent_status if records else "-",
                statuses["FINISHED"],
                statuses["RUNNING"],
                statuses["KILLED"],
                statuses["FAILED"],
            ]
        )
        print(
            f"resume     {label}: exit {run.returncode}, parent {records.parent_status if records else '-'}", flush=True
        )
        return run

    step("run, Ctrl-C at 1/3", [], max(1, trials // 3), "SIGINT")
    step("--resume, SIGKILL at 2/3", ["--resume"], max(2, 2 * trials // 3), "SIGKILL")
    step("--resume to the end", ["--resume"], None, "-")
    records = read_records(stores["mlflow"], name, stores["optuna"])
    check = records_check(records, trials, args.epochs)
    print_table(
        f"Interrupted and resumed: {trials} trials at concurrency {concurrency}",
        ["step", "signal", "exit", "wall s", "signal to exit s", "parent", "FINISHED", "RUNNING", "KILLED", "FAILED"],
        steps,
        "expected: exit 130 and parent KILLED after the Ctrl-C, parent RUNNING after the SIGKILL, exit 0 and parent "
        "FINISHED at the end; runs counted after each step",
    )
    print_table(
        "Records after Ctrl-C, SIGKILL and --resume: every trial's every epoch in MLflow and Optuna",
        [
            "sweep",
            "runs",
            "FINISHED",
            "all epochs",
            "epochs twice",
            "optuna trials",
            "optuna COMPLETE",
            "all steps",
            "resumes",
            "nothing lost",
        ],
        [
            [
                name,
                *(
                    fmt(check.get(key))
                    for key in (
                        "runs",
                        "finished",
                        "all epochs",
                        "epochs logged twice",
                        "optuna trials",
                        "optuna complete",
                        "optuna all steps",
                    )
                ),
                records.parent_tags.get(RESUMES_TAG, "-") if records else "-",
                "yes" if check.get("ok") else "NO",
            ]
        ],
        "epochs twice: epochs a resumed trial logged again (the report keeps the later value); optuna trials beyond "
        "the budget: crashed trials kept as FAIL beside their retry",
    )
    return {"steps": steps, "check": check}


# ---------------------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument(
        "--phase", nargs="+", choices=["storage", "sweeps", "resume"], default=["storage", "sweeps", "resume"]
    )
    parser.add_argument("--quick", action="store_true", help="small everything: a few minutes on 2 cores")
    parser.add_argument("--trials", nargs="+", type=int, help="sweep sizes (default 100 300 1000; quick 20)")
    parser.add_argument("--concurrency", nargs="+", type=int, help="trials at once (default 1 8 32; quick 1 4)")
    parser.add_argument(
        "--serial-trials-cap",
        type=int,
        default=300,
        help="at concurrency 1 run only sweeps of at most this many trials (0: no cap; default 300)",
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs per trial (default 2)")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        help="a trial checkpoints every this many epochs and at its last (default: sslsweep's, budget.checkpoint_every);"
        " 1 with epochs of a second forces an experiment-state save at nearly every result (Tune's num_to_keep rule)",
    )
    parser.add_argument("--nodes", type=int, help="worker nodes of the simulated cluster (default 4; quick 2)")
    parser.add_argument("--cpus-per-node", type=int, help="logical CPUs each worker node declares (default 8; quick 2)")
    parser.add_argument("--head-cpus", type=int, default=1, help="logical CPUs of the head node (default 1)")
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        choices=range(20),
        metavar="0-19",
        help="nice value of the worker nodes and their trials, below the driver's (default 0: the same)",
    )
    parser.add_argument("--object-store-mb", type=int, default=128, help="object store per node, MiB (default 128)")
    parser.add_argument(
        "--memory-gib-per-trial",
        type=float,
        default=0,
        help="memory each trial reserves (resources.memory_gib_per_worker; default 0: none, Ray places by CPUs alone)",
    )
    parser.add_argument(
        "--node-memory-mb",
        type=int,
        help="memory each node offers to trials, MiB (local.sh --head/--worker-memory-mb; default: Ray's, the "
        "machine's free memory on every node)",
    )
    parser.add_argument("--mlflow-workers", type=int, default=2, help="mlflow server workers (default 2)")
    parser.add_argument("--pg-fsync-off", action="store_true", help="run PostgreSQL with fsync off (faster, less real)")
    parser.add_argument("--storage-trials", type=int, help="Optuna trials per storage (default 1000; quick 200)")
    parser.add_argument(
        "--storage-concurrency", type=int, help="trials in flight in the storage phase (default 32; quick 4)"
    )
    parser.add_argument("--mlflow-trials", type=int, help="trials logged per MLflow store (default 1000; quick 20)")
    parser.add_argument("--metrics-per-result", type=int, default=40, help="metrics in one logged result (default 40)")
    parser.add_argument("--resume-trials", type=int, help="trials of the interrupted sweep (default 300; quick 20)")
    parser.add_argument("--resume-concurrency", type=int, help="its concurrency (default the largest --concurrency)")
    parser.add_argument("--sweep-timeout", type=float, default=7200, help="seconds one driver may run (default 7200)")
    parser.add_argument("--no-report", action="store_true", help="do not time `tune.py report` after each sweep")
    parser.add_argument("--work-dir", type=Path, help="where everything goes (default: a new temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and the /tmp/ssb-* directories")
    parser.add_argument("--json", type=Path, help="also write every measured figure to this JSON file")
    parser.add_argument(
        "--plan", action="store_true", help="write and validate the sweep files, print the plan, start nothing"
    )
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.resume_concurrency is None:
        args.resume_concurrency = max(args.concurrency)
    return args


def plan_lines(args) -> list[str]:
    sweeps = [
        (n, c)
        for n in args.trials
        for c in args.concurrency
        if not (c == 1 and args.serial_trials_cap and n > args.serial_trials_cap)
    ]
    cpus = args.head_cpus + args.nodes * args.cpus_per_node
    lines = [f"phases     {', '.join(args.phase)}"]
    if "sweeps" in args.phase or "resume" in args.phase:
        lines.append(
            f"cluster    head ({args.head_cpus} CPU) + {args.nodes} x {args.cpus_per_node} CPU = {cpus} logical CPUs "
            f"on {os.cpu_count()} real cores, worker nodes at nice {args.worker_nice}"
            + (f", {args.node_memory_mb} MiB per node" if args.node_memory_mb else "")
            + (f"; {args.memory_gib_per_trial:g} GiB reserved per trial" if args.memory_gib_per_trial else "")
        )
    if "storage" in args.phase:
        lines.append(
            f"storage    Optuna {args.storage_trials} trials x2 stores, MLflow {args.mlflow_trials} trials x "
            f"{args.epochs} results x2 stores, {args.storage_concurrency} in flight"
        )
    if "sweeps" in args.phase:
        lines.append(
            f"sweeps     {', '.join(f'{n}@{c}' for n, c in sweeps)} (trials@concurrency; {sum(n for n, _ in sweeps)} "
            f"trials x {args.epochs} epochs in all)"
        )
    if "resume" in args.phase:
        lines.append(
            f"resume     {args.resume_trials} trials at concurrency {args.resume_concurrency}: Ctrl-C, SIGKILL, --resume"
        )
    if max(args.concurrency + [args.resume_concurrency]) > cpus:
        lines.append(f"warning    concurrency above the cluster's {cpus} CPUs: Tune runs at most {cpus} trials at once")
    return lines


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the benchmark as Ctrl-C does: the finally blocks stop what was started


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    print(header(argv))
    for line in plan_lines(args):
        print(line)
    created = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="sweep-scale-")) if created else args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir   {work}{' (kept)' if args.keep or not created else ' (removed at the end; --keep keeps it)'}")
    signal.signal(signal.SIGTERM, _interrupt)
    figures: dict[str, Any] = {"header": header(argv), "sweeps": []}
    sweeps: list[SweepFigures] = []
    status = 0
    try:
        from trainables.searchspace import load_sweep

        largest = max(args.trials + [args.resume_trials])
        spec_path = write_spec(
            work / "specs",
            tiny_spec(
                "scale-plan",
                largest,
                max(args.concurrency),
                args.epochs,
                args.checkpoint_every,
                args.memory_gib_per_trial,
            ),
        )
        spec = load_sweep(spec_path)  # the tiny sweep validated before anything starts
        if args.plan:
            print("\nsweep file (valid; each sweep writes its own with its name, trials and concurrency):\n")
            print(spec_path.read_text())
            return 0
        with contextlib.ExitStack() as stack:
            stores: dict[str, str] = {}
            try:
                urls = stack.enter_context(
                    postgres(("mlflow", "optuna", "optuna_bench"), fsync=not args.pg_fsync_off, keep=args.keep)
                )
                stores.update(optuna=urls["optuna"], optuna_bench=urls["optuna_bench"], server_backend="PostgreSQL")
                backend = urls["mlflow"]
            except Unavailable as why:
                print(f"note       PostgreSQL unavailable ({why}); sqlite files stand in for it", flush=True)
                stores.update(
                    optuna=f"sqlite:///{work / 'optuna-sweeps.db'}",
                    optuna_bench="",
                    server_backend="sqlite",
                    why=str(why),
                )
                backend = f"sqlite:///{work / 'mlflow-server' / 'mlflow.db'}"
            stores["mlflow"] = stack.enter_context(mlflow_server(work / "mlflow-server", backend, args.mlflow_workers))
            if "storage" in args.phase:
                figures["storage"] = storage_phase(args, spec, stores, work)
            if "sweeps" in args.phase or "resume" in args.phase:
                cluster = stack.enter_context(
                    local_cluster(
                        work,
                        args.nodes,
                        args.cpus_per_node,
                        args.head_cpus,
                        args.object_store_mb,
                        args.keep,
                        args.worker_nice,
                        args.node_memory_mb,
                        SSLSWEEP_HOME=str(work / "home"),
                    )
                )
                if "sweeps" in args.phase:
                    sweeps_phase(args, cluster, stores, work, sweeps)
                if "resume" in args.phase:
                    figures["resume"] = resume_phase(args, cluster, stores, work)
    except KeyboardInterrupt:
        print("\ninterrupted: everything started was stopped; the figures so far follow", file=sys.stderr)
        status = 130
    except Unavailable as error:
        print(f"error: {error}", file=sys.stderr)
        status = 2
    finally:
        print_sweep_tables(sweeps, args.epochs)
        figures["sweeps"] = [asdict(s) for s in sweeps]
        if args.json and not args.plan:
            args.json.write_text(json.dumps(figures, indent=1, default=str))
            print(f"\nfigures    {args.json}")
        if created and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
