"""A tracking store, Optuna storage, Ray storage or Ray address that cannot be reached fails at start within 10 s
(the issue's limit) with one line naming the variable and its value, passwords hidden; reachable ones (a real
``mlflow server``, a listening port as the cluster's GCS, writable directories) pass. No Ray is started."""

from __future__ import annotations

import base64
import http.server
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import servers
from before_ray import fresh_or_in_process, run_fresh, tune_cli  # noqa: F401  (tune_cli: a fixture)
from servers import free_port

from trainables.sweep import preflight
from trainables.sweep.preflight import UnreachableError, check_stores_reachable
from trainables.tracking.stores import redact, resolve_stores

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 10  # the limit: an unreachable store fails at start within 10 s
VARIABLES = ("MLFLOW_TRACKING_URI", "SSLSWEEP_OPTUNA_STORAGE", "SSLSWEEP_RAY_STORAGE", "RAY_ADDRESS")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Stores under a temporary SSLSWEEP_HOME, none of the variables set; ``tmp_path/afile`` is a plain file,
    under which no directory can be made (even by root)."""
    monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path / "home"))
    for name in (*VARIABLES, "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "afile").write_text("not a directory")
    return tmp_path


@pytest.fixture(scope="module")
def ports():
    """Ports on 127.0.0.1: ``closed`` (nothing listens: refused), ``listening`` (accepts TCP, never says a word:
    a read times out), ``dropped`` (its backlog is full, so a connect times out, as to a host that drops
    packets), ``http501`` (an HTTP server that is not MLflow's) and ``guarded`` (one that asks for a password)."""
    listening = socket.create_server(("127.0.0.1", 0), backlog=8)
    dropped = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(dropped.getsockname())
        fillers.append(filler)
    time.sleep(0.2)

    class NotMlflow(http.server.BaseHTTPRequestHandler):  # no do_GET: every GET is answered 501
        def log_message(self, *args):
            pass

    class Guarded(NotMlflow):  # a tracking server behind basic authentication (user alice, password pw)
        def do_GET(self):
            allowed = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"alice:pw").decode()
            self.send_response(200 if allowed else 401)
            self.end_headers()
            self.wfile.write(b"OK" if allowed else b"")

    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) for handler in (NotMlflow, Guarded)]
    for web in servers:
        threading.Thread(target=web.serve_forever, daemon=True).start()
    yield {
        "closed": free_port(),
        "listening": listening.getsockname()[1],
        "dropped": dropped.getsockname()[1],
        "http501": servers[0].server_address[1],
        "guarded": servers[1].server_address[1],
    }
    for web in servers:
        web.shutdown()
        web.server_close()
    for sock in (listening, dropped, *fillers):
        sock.close()


UNREACHABLE = [
    # (id, variable, value ({closed}, {listening}, {dropped}, {http501}: ports; {afile}: a plain file), words)
    (
        "tracking server refused",
        "MLFLOW_TRACKING_URI",
        "http://127.0.0.1:{closed}",
        ["no MLflow tracking server answered within 5 s (connection refused)", "expected a running `mlflow server`"],
    ),
    ("tracking server silent", "MLFLOW_TRACKING_URI", "http://127.0.0.1:{listening}", ["(timed out)"]),
    ("tracking server dropped", "MLFLOW_TRACKING_URI", "http://127.0.0.1:{dropped}", ["(timed out)"]),
    (
        "not a tracking server",
        "MLFLOW_TRACKING_URI",
        "http://127.0.0.1:{http501}",
        ["GET /health answered HTTP 501", "expected 200 from a running `mlflow server`"],
    ),
    (
        "tracking server without its credentials",
        "MLFLOW_TRACKING_URI",
        "http://127.0.0.1:{guarded}",
        ["GET /health answered HTTP 401", "MLFLOW_TRACKING_USERNAME/PASSWORD"],
    ),
    ("unknown tracking host", "MLFLOW_TRACKING_URI", "http://no-such-host.invalid:5000", ["(unknown host)"]),
    (
        "tracking server with a password in its URL",
        "MLFLOW_TRACKING_URI",
        "https://alice:secret@127.0.0.1:{closed}",
        ["alice:***@", "a password in the URL", "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"],
    ),
    (
        "tracking database refused",
        "MLFLOW_TRACKING_URI",
        "postgresql://mlflow:secret@127.0.0.1:{closed}/mlflow",
        ["mlflow:***@", "no PostgreSQL server answered at 127.0.0.1:", "(connection refused)"],
    ),
    (
        "tracking sqlite under a file",
        "MLFLOW_TRACKING_URI",
        "sqlite:///{afile}/mlflow.db",
        ["directory", "cannot be created", "expected a writable directory for the sqlite database"],
    ),
    (
        "optuna database refused",
        "SSLSWEEP_OPTUNA_STORAGE",
        "postgresql+psycopg2://optuna:secret@127.0.0.1:{closed}/optuna",
        ["optuna:***@", "(connection refused)"],
    ),
    (
        "optuna database dropped",
        "SSLSWEEP_OPTUNA_STORAGE",
        "postgresql://optuna:secret@127.0.0.1:{dropped}/optuna",
        ["optuna:***@", "no PostgreSQL server answered", "(timed out)"],
    ),
    (
        "optuna mysql refused",
        "SSLSWEEP_OPTUNA_STORAGE",
        "mysql://optuna:secret@127.0.0.1:{closed}/optuna",
        ["no MySQL server answered", "(connection refused)"],
    ),
    (
        "optuna storage not a URL",
        "SSLSWEEP_OPTUNA_STORAGE",
        "optuna.db",
        ["not a database URL", "expected e.g. sqlite:////absolute/path.db"],
    ),
    ("optuna sqlite under a file", "SSLSWEEP_OPTUNA_STORAGE", "sqlite:///{afile}/optuna.db", ["cannot be created"]),
    (
        "ray storage under a file",
        "SSLSWEEP_RAY_STORAGE",
        "{afile}/ray_results",
        ["cannot be created", "expected a writable directory for Ray's trial results"],
    ),
    ("ray storage file URL under a file", "SSLSWEEP_RAY_STORAGE", "file://{afile}/ray_results", ["cannot be created"]),
    (
        "ray address refused",
        "RAY_ADDRESS",
        "127.0.0.1:{closed}",
        ["no Ray cluster answered at 127.0.0.1:", "(connection refused)", "GCS port 6379"],
    ),
    ("ray client address refused", "RAY_ADDRESS", "ray://127.0.0.1:{closed}", ["(connection refused)"]),
    ("ray address dropped", "RAY_ADDRESS", "127.0.0.1:{dropped}", ["(timed out)"]),
    (
        "ray dashboard address",
        "RAY_ADDRESS",
        "http://127.0.0.1:8265",
        ["dashboard", "expected the GCS address host:6379 (or ray://host:10001)"],
    ),
    ("ray address without a port", "RAY_ADDRESS", "head-node", ["not a Ray address", "host:port"]),
    ("ray address with a named port", "RAY_ADDRESS", "head-node:gcs", ["not a Ray address"]),
]


def _fill(template: str, ports: dict, home: Path) -> str:
    return template.format(**ports, afile=home / "afile")


def _refused(stores, ray_address=None, **kwargs) -> tuple[str, float]:
    """The one line ``check_stores_reachable`` refused with, and how long it took."""
    start = time.monotonic()
    with pytest.raises(UnreachableError) as refused:
        check_stores_reachable(stores, ray_address, **kwargs)
    return str(refused.value), time.monotonic() - start


@pytest.mark.parametrize("case_id,variable,template,words", UNREACHABLE, ids=[c[0] for c in UNREACHABLE])
def test_an_unreachable_store_is_one_line_within_10_s(home, ports, monkeypatch, case_id, variable, template, words):
    value = _fill(template, ports, home)
    monkeypatch.setenv(variable, value)
    message, seconds = _refused(resolve_stores(), os.environ.get("RAY_ADDRESS"))
    assert seconds < LIMIT_S
    assert message.startswith(f"{variable} {redact(value)}: ") and "\n" not in message
    assert "secret" not in message
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


@pytest.mark.skipif(importlib.util.find_spec("pg8000") is not None, reason="pg8000 is installed here")
def test_a_missing_database_driver_names_the_package_to_install(home, ports, monkeypatch):
    url = f"postgresql+pg8000://optuna:secret@127.0.0.1:{ports['listening']}/optuna"
    monkeypatch.setenv("SSLSWEEP_OPTUNA_STORAGE", url)
    message, _ = _refused(resolve_stores())
    assert message == (
        "SSLSWEEP_OPTUNA_STORAGE postgresql+pg8000://optuna:***@127.0.0.1:"
        f"{ports['listening']}/optuna: the database driver pg8000 is not installed; expected "
        "`pip install pg8000`"
    )


def test_every_store_unreachable_at_once_still_fails_within_10_s_naming_the_first(home, ports, monkeypatch):
    """Tried at the same time: four silent stores cost one timeout, not four."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{ports['listening']}")
    monkeypatch.setenv("SSLSWEEP_OPTUNA_STORAGE", f"postgresql://u:secret@127.0.0.1:{ports['dropped']}/optuna")
    message, seconds = _refused(resolve_stores(), f"127.0.0.1:{ports['dropped']}")
    assert seconds < LIMIT_S
    assert message.startswith(
        f"MLFLOW_TRACKING_URI http://127.0.0.1:{ports['listening']}: no MLflow tracking "
        f"server answered within 5 s (timed out)"
    )


def test_a_check_that_never_returns_counts_as_unreachable_at_the_deadline(home, monkeypatch):
    monkeypatch.setattr(preflight, "_check_ray_address", lambda address, timeout: time.sleep(60))
    message, seconds = _refused(resolve_stores(), "10.0.0.1:6379", timeout=2)
    assert seconds < 4
    assert message == "RAY_ADDRESS 10.0.0.1:6379: no answer within 2 s; expected a running Ray cluster"


def test_a_default_store_is_named_as_the_default(home):
    (home / "home").mkdir()
    (home / "home" / "ray_results").write_text("a file where Ray's directory goes")
    message, _ = _refused(resolve_stores())
    assert message.startswith(
        f"SSLSWEEP_RAY_STORAGE (unset, the default under SSLSWEEP_HOME) "
        f"{home / 'home' / 'ray_results'}: directory {home / 'home' / 'ray_results'} cannot be "
        f"created"
    )


@pytest.mark.parametrize(
    "url,shown",
    [
        ("postgresql://user:secret@db:5432/optuna", "postgresql://user:***@db:5432/optuna"),
        (
            "postgresql+psycopg2://optuna:p%40ss:w0rd@postgres.svc/optuna?sslmode=require",
            "postgresql+psycopg2://optuna:***@postgres.svc/optuna?sslmode=require",
        ),
        ("https://alice:secret@mlflow.example.org", "https://alice:***@mlflow.example.org"),
        (
            "postgresql://db/optuna?user=u&password=secret&sslmode=require",
            "postgresql://db/optuna?user=u&password=***&sslmode=require",
        ),
        ("mysql://user@db/optuna", "mysql://user@db/optuna"),
        # A generated password may hold '/', '+', '=', '?' or '#': the driver reads it up to the '@'.
        ("postgresql://optuna:a/b+c=?d#e@db:5432/optuna", "postgresql://optuna:***@db:5432/optuna"),
        ("sqlite:////home/me/.sslsweep/optuna.db", "sqlite:////home/me/.sslsweep/optuna.db"),
        ("10.0.0.1:6379", "10.0.0.1:6379"),
    ],
)
def test_passwords_are_redacted(url, shown):
    assert redact(url) == shown


# ------------------------------------------------------------------------------------------ reachable
@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` on a free loopback port over a sqlite store; its URL."""
    directory = tmp_path_factory.mktemp("mlflow")
    with servers.mlflow_server(directory, f"sqlite:///{directory / 'mlflow.db'}") as uri:
        yield uri


def test_reachable_stores_pass(home, ports, mlflow_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("SSLSWEEP_OPTUNA_STORAGE", f"sqlite:///{home / 'new' / 'dir' / 'optuna.db'}")
    monkeypatch.setenv("SSLSWEEP_RAY_STORAGE", str(home / "ray" / "results"))
    gcs = f"127.0.0.1:{ports['listening']}"  # a listening port stands in for the cluster's GCS
    for address in (gcs, f"ray://{gcs}", None, "", "auto", "local"):
        start = time.monotonic()
        check_stores_reachable(resolve_stores(), address)
        assert time.monotonic() - start < LIMIT_S
    assert (home / "new" / "dir").is_dir() and (home / "ray" / "results").is_dir()  # created for the stores


def test_a_tracking_server_is_asked_with_the_credentials_mlflow_would_send(home, ports, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{ports['guarded']}")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    check_stores_reachable(resolve_stores(), None)


def test_the_default_stores_and_remote_or_unknown_ones_pass(home, monkeypatch):
    check_stores_reachable(resolve_stores(), None)  # sqlite files and ray_results under SSLSWEEP_HOME
    monkeypatch.setenv("SSLSWEEP_RAY_STORAGE", "s3://bucket/sslsweep")  # Ray's to reach, with its credentials
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")  # MLflow's to judge
    check_stores_reachable(resolve_stores(), None)


# ------------------------------------------------------------------------------------------- the command
COMMAND_CASES = [
    ("MLFLOW_TRACKING_URI", "http://127.0.0.1:{closed}"),
    ("SSLSWEEP_OPTUNA_STORAGE", "postgresql://u:secret@127.0.0.1:{closed}/db"),
    ("RAY_ADDRESS", "127.0.0.1:{closed}"),
]


@pytest.mark.parametrize("variable,template", COMMAND_CASES, ids=[case[0] for case in COMMAND_CASES])
def test_the_command_refuses_an_unreachable_store_before_any_trial(tmp_path, tune_cli, variable, template):
    """MLflow's case through a fresh ``python tune.py``, the others through ``tune.main`` (before_ray.py)."""
    searchspace = tmp_path / "barlow.yaml"
    shutil.copy(ROOT / "searchspaces" / "barlow.yaml", searchspace)
    value = template.format(closed=free_port())
    start = time.monotonic()
    fresh_process = variable == "MLFLOW_TRACKING_URI"
    run = _command(tmp_path, tune_cli, str(searchspace), fresh_process=fresh_process, **{variable: value})
    seconds = time.monotonic() - start
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.startswith(f"error: {variable} {redact(value)}: ") and run.stderr.count("\n") == 1
    assert "Traceback" not in run.stderr and "secret" not in run.stderr
    assert not (tmp_path / "home" / "ray_results").exists() or not any((tmp_path / "home" / "ray_results").iterdir())
    assert seconds < 30


# ------------------------------------------------------------------------- places a sweep writes, reports
def _environment(tmp_path, **variables: str) -> dict[str, str | None]:
    """The stores' variables unset but for ``variables``, and SSLSWEEP_HOME under ``tmp_path`` unless they name it."""
    return {**dict.fromkeys(VARIABLES), "SSLSWEEP_HOME": str(tmp_path / "home"), **variables}


def _command(tmp_path, tune_cli, *args: str, fresh_process: bool, **variables: str):
    """``tune.py ARGS`` (before_ray.py: a fresh process, or ``tune.main`` in this one) in ``_environment``."""
    env = _environment(tmp_path, **variables)
    return fresh_or_in_process(tune_cli, list(args), env, fresh_process=fresh_process, timeout=120)


def _one_line_refusal(run, start: str) -> None:
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stderr.startswith(f"error: {start}") and run.stderr.count("\n") == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr


def test_every_command_refuses_an_sslsweep_home_that_cannot_be_created(tmp_path, tune_cli):
    """``tune.py ui`` in a fresh process (it would start the MLflow UI), the other commands through ``tune.main``."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    home = blocker / "home"
    nightly = tmp_path / "nightly.yaml"
    nightly.write_text(f"sweeps: [{ROOT / 'searchspaces' / 'barlow.yaml'}]\n")
    for args in (
        [str(ROOT / "searchspaces" / "barlow.yaml"), "--dry-run"],
        ["report", "barlow"],
        ["ui"],
        ["nightly", str(nightly)],
    ):
        run = _command(tmp_path, tune_cli, *args, fresh_process=args == ["ui"], SSLSWEEP_HOME=str(home))
        _one_line_refusal(run, f"SSLSWEEP_HOME {home}: cannot be created (")
        assert "expected a writable directory" in run.stderr


def test_an_unwritable_reports_directory_is_refused_in_the_dry_run_and_before_the_sweep(tmp_path, tune_cli):
    """The sweep itself in a fresh process, the dry run and the report through ``tune.main``."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    reports = blocker / "reports"
    searchspace = str(ROOT / "searchspaces" / "barlow.yaml")
    for args in ([searchspace, "--dry-run"], [searchspace], ["report", "barlow"]):
        fresh_process = args == [searchspace]
        run = _command(tmp_path, tune_cli, *args, fresh_process=fresh_process, SSLSWEEP_REPORTS_DIR=str(reports))
        _one_line_refusal(run, f"SSLSWEEP_REPORTS_DIR {reports}: ")
        assert "cannot be" in run.stderr and "expected a writable directory for the reports" in run.stderr
        if args == [searchspace]:  # refused before the sweep recorded or trained anything
            assert not list((tmp_path / "home").glob("ray_results/*"))
            assert not list((tmp_path / "home").glob("mlartifacts/*"))


def test_a_report_against_an_unreachable_tracking_server_is_one_line_within_seconds(tmp_path):
    value = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    run = run_fresh(["report", "barlow"], _environment(tmp_path, MLFLOW_TRACKING_URI=value), timeout=120)
    assert time.monotonic() - start < 30
    _one_line_refusal(run, f"MLFLOW_TRACKING_URI {value}: no MLflow tracking server answered")


def test_a_local_ray_keeps_to_the_loopback_unless_it_joins_a_cluster(tmp_path, monkeypatch):
    """What ``ray.init()`` would do, decided before Ray is imported: start its own Ray (on the loopback) or join
    the cluster ``ray start`` recorded in Ray's temporary directory (on that cluster's addresses)."""
    import tune
    from trainables.sweep.resources import running_local_cluster

    switch = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    # keep_local_ray_on_loopback sets the switch in os.environ itself, which monkeypatch does not undo; setting it
    # here first records its absence, so the test leaves no switch behind (a later `ray start` of a worker node
    # refuses to start where it is 0).
    monkeypatch.setenv(switch, "")

    def decided(ray_address: str | None) -> str | None:
        monkeypatch.delenv(switch, raising=False)
        if ray_address is None:
            monkeypatch.delenv("RAY_ADDRESS", raising=False)
        else:
            monkeypatch.setenv("RAY_ADDRESS", ray_address)
        tune.keep_local_ray_on_loopback()
        return os.environ.get(switch)

    assert running_local_cluster() is None
    assert decided(None) == "0" and decided("local") == "0"  # a Ray of its own: loopback only
    assert decided("10.0.0.2:6379") is None  # a cluster named by RAY_ADDRESS
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text("10.0.0.1:6379\n")
    assert running_local_cluster() == "10.0.0.1:6379"
    assert decided(None) is None  # ray.init() joins the `ray start` cluster


def test_the_dry_run_says_which_ray_a_sweep_would_use(tmp_path):
    """RAY_ADDRESS, else the cluster ``ray start`` recorded on this machine, else a Ray of its own (as ray.init())."""
    from trainables.sweep.resources import joins_a_cluster, ray_target

    machine = {"RAY_TMPDIR": str(tmp_path)}
    assert ray_target(machine) == f"a new Ray instance on this machine alone ({os.cpu_count()} CPUs)"
    assert not joins_a_cluster(machine)
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text("10.0.0.1:6379\n")
    assert ray_target(machine) == "the cluster this machine joined with `ray start`, at 10.0.0.1:6379"
    assert ray_target({**machine, "RAY_ADDRESS": "10.0.0.2:6379"}) == "the cluster at 10.0.0.2:6379 (RAY_ADDRESS)"
    assert ray_target({**machine, "RAY_ADDRESS": "local"}).startswith("a new Ray instance")
    assert joins_a_cluster(machine)
    run = subprocess.run(
        [sys.executable, "tune.py", "searchspaces/barlow.yaml", "--dry-run"],
        cwd=ROOT,
        env={**os.environ, "RAY_ADDRESS": "10.0.0.2:6379"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and "\nray        the cluster at 10.0.0.2:6379 (RAY_ADDRESS)" in run.stdout, run.stderr
