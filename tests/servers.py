"""Servers a test starts on loopback (``mlflow server``, ``tune.py ui``, PostgreSQL, Ray): a free port, waiting
until a server listens on it, and a throwaway PostgreSQL cluster."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, server: subprocess.Popen, what: str, seconds: float = 90, log: Path | None = None) -> None:
    """Until ``server`` (started by the test, output piped or written to ``log``) listens on 127.0.0.1:``port``;
    fails if it exits."""

    def output() -> str:
        return (log.read_text() if log is not None else (server.stdout or server.stderr).read())[-2000:]

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"{what} exited with {server.returncode}: {output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(
        f"{what} did not listen on 127.0.0.1:{port} within {seconds} s" + (f": {output()}" if log is not None else "")
    )


@contextlib.contextmanager
def mlflow_server(
    directory: Path, backend_store_uri: str | None = None, env: dict[str, str] | None = None, args: list[str] = ()
):
    """A real ``mlflow server`` on a free loopback port over ``backend_store_uri`` (None: the one ``env`` names),
    artifacts under ``directory/artifacts``, its output in ``directory/server.log``, ``args`` added; its URL.
    Without MLflow's job runner (GenAI scorers, which sweeps never use): eight processes fewer competing with the
    test, as ``tune.py ui`` and the cluster's manifest start it. In a session of its own (``mlflow server`` runs
    uvicorn as a child process): the group is stopped as one."""
    directory.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), directory / "server.log"
    environment = {**(env if env is not None else os.environ), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    store = ["--backend-store-uri", backend_store_uri] if backend_store_uri else []
    with log.open("w") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                *store,
                "--artifacts-destination",
                (directory / "artifacts").as_uri(),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                *args,
            ],
            cwd=directory,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, server, "mlflow server", log=log)
        yield f"http://127.0.0.1:{port}"
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        except ProcessLookupError:
            server.wait(timeout=30)
        finally:
            try:  # whatever of its group outlived it (its uvicorn child)
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def postgres_bin() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)] or [0],
    )
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


@contextlib.contextmanager
def postgres_cluster(databases: tuple[str, ...], password: str | None = None):
    """A throwaway PostgreSQL cluster on 127.0.0.1 (loopback only) with the empty ``databases``; a URL per
    database. With ``password``, TCP connections must give it (scram-sha-256) and the URLs carry it; without,
    trust. Skips, with the reason, where the server binaries or the driver are missing."""
    bindir = postgres_bin()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql")
    try:
        import psycopg2
    except ImportError:
        pytest.skip("psycopg2 (Optuna's PostgreSQL driver) is not importable: pip install -e '.[test]'")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))  # short: it also holds the server's Unix socket
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the `postgres` system user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("running as root, and there is no 'postgres' system user to run PostgreSQL as")
        runuser = shutil.which("runuser")
        if runuser is None:
            shutil.rmtree(root)
            pytest.skip("running as root, and runuser (util-linux) is missing to run PostgreSQL as 'postgres'")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = [runuser, "-u", "postgres", "--"]
    data, log, port = root / "data", root / "server.log", free_port()

    def pg(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *args], cwd=root, capture_output=True, text=True, timeout=timeout)

    try:
        host_auth = "scram-sha-256" if password else "trust"
        init = pg(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            f"--auth-host={host_auth}",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode != 0:
            pytest.skip(f"initdb could not create a PostgreSQL cluster here: {(init.stdout + init.stderr)[-1500:]}")
        started = pg(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off",
            "start",
        )
        if started.returncode != 0:
            output = started.stdout + started.stderr + (log.read_text() if log.exists() else "")
            pytest.skip(f"PostgreSQL could not start here: {output[-1500:]}")
        # Over the Unix socket (trust), where the password is set before anyone needs it.
        connection = psycopg2.connect(host=str(root), port=port, user="postgres", dbname="postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                if password:
                    cursor.execute("ALTER USER postgres PASSWORD %s", (password,))
                for database in databases:
                    cursor.execute(f"CREATE DATABASE {database}")
        finally:
            connection.close()
        user_part = f"postgres:{password}" if password else "postgres"
        yield {database: f"postgresql+psycopg2://{user_part}@127.0.0.1:{port}/{database}" for database in databases}
    finally:
        if (data / "postmaster.pid").exists():
            stopped = pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop")
            if stopped.returncode != 0:
                pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
