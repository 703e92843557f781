"""Every store and the Ray address checked before a sweep starts: one that cannot be reached is one line in seconds.

Left alone, each fails late and slowly: MLflow's client retries an unreachable tracking server for minutes, a
PostgreSQL Optuna storage on a closed port hangs or ends in a traceback, ``ray.init`` waits a long time on an
address where no cluster listens. So before any trial starts, ``check_stores_reachable`` tries each of them
once, all at the same time, each for at most ``timeout`` seconds (one that does not answer by then counts as
unreachable), and raises ``UnreachableError``, whose message names the variable and its value (passwords
hidden) and what was expected there. It only looks: nothing is recorded, no Ray is started.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from trainables.tracking.stores import MLFLOW_VARIABLE, OPTUNA_VARIABLE, RAY_STORAGE_VARIABLE, REPORTS_VARIABLE, redact

RAY_ADDRESS_VARIABLE = "RAY_ADDRESS"

# Database backends a network URL may name: what the server is called and its usual port.
_DATABASES = {
    "postgresql": ("PostgreSQL", 5432),
    "mysql": ("MySQL", 3306),
    "mariadb": ("MariaDB", 3306),
    "mssql": ("SQL Server", 1433),
    "oracle": ("Oracle", 1521),
}
# A missing driver module, and what installs it.
_DRIVER_PACKAGES = {
    "psycopg2": "psycopg2-binary",
    "psycopg": '"psycopg[binary]"',
    "MySQLdb": "mysqlclient",
    "pymysql": "PyMySQL",
    "pyodbc": "pyodbc",
    "pg8000": "pg8000",
    "oracledb": "oracledb",
}
_GRACE_S = 1.0  # beyond ``timeout``, for a thread to hand back what it found


class UnreachableError(ValueError):
    """A store or Ray address that cannot be reached; the message is the whole line, naming variable and value."""


@dataclass(frozen=True)
class _Check:
    variable: str  # as the message names it
    value: str
    expected: str  # what should be there, for a check that does not answer
    run: Callable[[str, float], str | None]  # (value, timeout) -> the problem, or None when reachable


def check_stores_reachable(stores, ray_address: str | None, timeout: float = 5.0) -> None:
    """``UnreachableError`` for the first of the MLflow tracking store, the Optuna storage, the Ray storage and
    the Ray address (in that order) that cannot be reached; all are tried at once, within ``timeout`` + 1 s."""
    checks = [
        *_record_checks(stores),
        _Check(
            _variable(RAY_STORAGE_VARIABLE, stores.ray_storage),
            stores.ray_storage,
            "a writable directory",
            _check_ray_storage,
        ),
        _Check(RAY_ADDRESS_VARIABLE, ray_address or "", "a running Ray cluster", _check_ray_address),
        _reports_check(stores),
    ]
    problem = _first_problem(checks, timeout)
    if problem:
        raise UnreachableError(problem)


def check_records_reachable(stores, timeout: float = 5.0) -> None:
    """``check_stores_reachable`` for what a report reads and writes: the MLflow tracking store, the Optuna
    storage and the reports directory."""
    problem = _first_problem([*_record_checks(stores), _reports_check(stores)], timeout)
    if problem:
        raise UnreachableError(problem)


def check_reports_writable(stores) -> None:
    """``UnreachableError`` when the reports directory could not be written (a sweep would train, then lose its
    report); a local check that creates nothing, so the dry run makes it too."""
    check = _reports_check(stores)
    problem = check.run(check.value, 0.0)
    if problem:
        raise UnreachableError(f"{check.variable} {check.value}: {problem}")


def _reports_check(stores) -> _Check:
    variable = REPORTS_VARIABLE if os.environ.get(REPORTS_VARIABLE) else f"{REPORTS_VARIABLE} (unset, the default)"
    return _Check(variable, str(stores.reports_dir), "a writable directory", _check_reports_dir)


def _check_reports_dir(directory: str, timeout: float) -> str | None:
    """The directory, or the nearest folder above it that exists, is a writable directory (the report makes the
    rest when it is written). Creates nothing: a refused command leaves no folder behind."""
    path = Path(directory)
    existing = next((folder for folder in (path, *path.parents) if folder.exists()), None)
    if existing is None or not existing.is_dir():
        reason = f"{existing} is not a directory"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = f"{existing} is not writable"
    else:
        return None
    return f"cannot be written ({reason}); expected a writable directory for the reports"


def _record_checks(stores) -> list[_Check]:
    return [
        _Check(
            _variable(MLFLOW_VARIABLE, stores.mlflow_uri),
            stores.mlflow_uri,
            "a reachable MLflow tracking store",
            _check_tracking_uri,
        ),
        _Check(
            _variable(OPTUNA_VARIABLE, stores.optuna_url),
            stores.optuna_url,
            "a reachable Optuna database",
            _check_optuna_storage,
        ),
    ]


def _variable(name: str, value: str) -> str:
    return name if os.environ.get(name) == value else f"{name} (unset, the default under SSLSWEEP_HOME)"


def _first_problem(checks: list[_Check], timeout: float) -> str | None:
    """Every check in a daemon thread of its own (a driver stuck in a connect is left behind, never waited for
    at exit); the first problem in list order, a check still running at the deadline counting as one."""
    found: dict[int, str | None] = {}

    def run(index: int, check: _Check) -> None:
        try:
            found[index] = check.run(check.value, timeout)
        except Exception as error:  # noqa: BLE001 - a check that breaks is a store that cannot be used
            found[index] = f"cannot be checked ({_reason(error)}); expected {check.expected}"

    threads = [
        threading.Thread(target=run, args=(i, c), daemon=True, name=f"preflight-{c.variable.split()[0]}")
        for i, c in enumerate(checks)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + _GRACE_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for index, check in enumerate(checks):
        problem = found[index] if index in found else f"no answer within {timeout:g} s; expected {check.expected}"
        if problem:
            return f"{check.variable} {redact(check.value)}: {problem}"
    return None


# ------------------------------------------------------------------------------------------ MLflow
def _check_tracking_uri(uri: str, timeout: float) -> str | None:
    scheme = uri.partition(":")[0].lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        if urlsplit(uri).password is not None:
            return (
                "a password in the URL, which MLflow's client prints in its error messages; expected the URL "
                "without it and the credentials in MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"
            )
        return _check_tracking_server(uri, timeout)
    if scheme.startswith("sqlite") or scheme.split("+")[0] in _DATABASES:
        return _check_database(uri, timeout)
    return None  # file:, databricks, a plugin's scheme: MLflow itself decides what it accepts


def _check_tracking_server(uri: str, timeout: float) -> str | None:
    """``GET <uri>/health``: a running ``mlflow server`` answers 200 "OK". Sent with the credentials and TLS
    settings MLflow's client takes from the environment, so a server behind authentication answers too; then a
    search of one experiment, which MLflow's basic-auth app (unlike /health) answers only to a known user."""
    import requests

    url = uri.rstrip("/") + "/health"
    try:
        response = requests.get(url, timeout=timeout, **_mlflow_request_options())
    except requests.RequestException as error:
        return (
            f"no MLflow tracking server answered within {timeout:g} s ({_reason(error)}); expected a running "
            f"`mlflow server` there"
        )
    if not 200 <= response.status_code < 300:
        return (
            f"GET /health answered HTTP {response.status_code} {response.reason or ''}".rstrip()
            + "; expected 200 from a running `mlflow server` there (a wrong address, or credentials missing "
            "from MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN?)"
        )
    try:
        response = requests.get(
            uri.rstrip("/") + _AUTHENTICATED_PATH,
            params={"max_results": 1},
            timeout=timeout,
            **_mlflow_request_options(),
        )
    except requests.RequestException as error:
        return f"the server stopped answering within {timeout:g} s ({_reason(error)}); expected a running server"
    if response.status_code in (401, 403):
        return (
            f"GET {_AUTHENTICATED_PATH} answered HTTP {response.status_code}: the server does not accept the "
            f"credentials sent (or their absence); expected MLFLOW_TRACKING_USERNAME/PASSWORD (or "
            f"MLFLOW_TRACKING_TOKEN) of one of its users"
        )
    return None


_AUTHENTICATED_PATH = "/api/2.0/mlflow/experiments/search"  # what a sweep's first call to the server reads


def _mlflow_request_options() -> dict:
    environ = os.environ
    options: dict = {}
    if environ.get("MLFLOW_TRACKING_TOKEN"):
        options["headers"] = {"Authorization": f"Bearer {environ['MLFLOW_TRACKING_TOKEN']}"}
    elif environ.get("MLFLOW_TRACKING_USERNAME"):
        options["auth"] = (environ["MLFLOW_TRACKING_USERNAME"], environ.get("MLFLOW_TRACKING_PASSWORD", ""))
    if environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        options["verify"] = False
    elif environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
        options["verify"] = environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]
    if environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH"):
        options["cert"] = environ["MLFLOW_TRACKING_CLIENT_CERT_PATH"]
    return options


# ------------------------------------------------------------------------------------------ Optuna
def _check_optuna_storage(url: str, timeout: float) -> str | None:
    return _check_database(url, timeout)


# --------------------------------------------------------------------------------------- databases
def _check_database(url: str, timeout: float) -> str | None:
    """A SQLAlchemy URL: sqlite needs a writable directory; a server must accept a TCP connection, have its
    driver installed here, and let this URL's user connect."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return (
            "not a database URL; expected e.g. sqlite:////absolute/path.db or "
            "postgresql+psycopg2://user:password@host:5432/db"
        )
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _check_sqlite(parsed.database)
    if parsed.host and backend in _DATABASES:
        name, default_port = _DATABASES[backend]
        port = parsed.port or default_port
        reason = _tcp_problem(parsed.host, port, timeout)
        if reason:
            return (
                f"no {name} server answered at {_host_port(parsed.host, port)} within {timeout:g} s "
                f"({reason}); expected a running database there"
            )
    return _connect(parsed, timeout)


def _check_sqlite(database: str | None) -> str | None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).expanduser()
    if path.is_dir():
        return f"{path} is a directory; expected the path of a sqlite database file"
    return _writable_directory(path.parent, "for the sqlite database")


def _connect(parsed, timeout: float) -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import NoSuchModuleError
    from sqlalchemy.pool import NullPool

    try:
        engine = create_engine(parsed, poolclass=NullPool, connect_args=_connect_timeout(parsed, timeout))
    except NoSuchModuleError:
        return f"unknown database dialect '{parsed.drivername}'; expected sqlite, postgresql or mysql"
    except ImportError as error:
        module = error.name or str(error)
        package = _DRIVER_PACKAGES.get(module, module)
        hint = (
            " (SQLAlchemy's default for postgresql://), or postgresql+psycopg2:// with psycopg2-binary"
            if module == "psycopg"
            else ""
        )
        return f"the database driver {module} is not installed; expected `pip install {package}`{hint}"
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - the driver's own error, whatever its class
        reason = _reason(getattr(error, "orig", None) or error)
        return f"cannot connect ({reason}); expected the URL's database to exist and accept its user and password"
    finally:
        engine.dispose()
    return None


def _connect_timeout(parsed, timeout: float) -> dict:
    seconds = max(2, round(timeout))  # libpq and the MySQL drivers take whole seconds (libpq: at least 2)
    driver = parsed.get_driver_name()
    if parsed.get_backend_name() in ("postgresql", "mysql", "mariadb"):
        return {"timeout": seconds} if driver == "pg8000" else {"connect_timeout": seconds}
    if driver == "pyodbc":
        return {"timeout": seconds}
    return {}


# --------------------------------------------------------------------------------------------- Ray
def _check_ray_storage(storage: str, timeout: float) -> str | None:
    """A local directory (a path or file://) must be writable; s3://, gs:// and other remote storage are left
    to Ray."""
    if "://" in storage:
        parts = urlsplit(storage)
        if parts.scheme != "file":
            return None
        storage = parts.path
    return _writable_directory(Path(storage).expanduser(), "for Ray's trial results")


def _check_ray_address(address: str, timeout: float) -> str | None:
    """Unset, ``auto`` or ``local``: Ray finds or starts its cluster itself. ``host:port`` (the GCS) or
    ``ray://host:port`` (Ray Client) must accept a TCP connection."""
    if address.strip().lower() in ("", "auto", "local"):
        return None
    if address.startswith(("http://", "https://")):
        return (
            "an http address is the dashboard's (for `ray job submit`), not a driver's; expected the GCS "
            "address host:6379 (or ray://host:10001), or RAY_ADDRESS unset to start Ray here"
        )
    scheme, _, rest = address.rpartition("://")
    if scheme and scheme != "ray":
        return None  # Ray imports a module of that name to connect: a plugin's address
    try:
        parts = urlsplit("//" + rest)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or port is None or parts.path or parts.query or parts.username:
        return (
            "not a Ray address; expected host:port of a running cluster's GCS (e.g. 10.0.0.1:6379), "
            "ray://host:10001, auto or local"
        )
    reason = _tcp_problem(host, port, timeout)
    if reason:
        return (
            f"no Ray cluster answered at {_host_port(host, port)} within {timeout:g} s ({reason}); expected a "
            f"running cluster there (`ray start --head`: GCS port 6379, Ray Client ray://host:10001)"
        )
    return None


# ---------------------------------------------------------------------------------------- helpers
def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _tcp_problem(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as error:
        return _reason(error)


def _writable_directory(directory: Path, purpose: str) -> str | None:
    """Created when missing (as the store would need), then written to: a file made and removed again."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"directory {directory} cannot be created ({_reason(error)}); expected a writable directory {purpose}"
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        return f"directory {directory} cannot be written ({_reason(error)}); expected a writable directory {purpose}"
    return None


def _reason(error: BaseException) -> str:
    """A few words for why a connection failed, from the innermost cause of ``error`` (requests and urllib3
    wrap the socket's error two or three times over)."""
    chain = _causes(error)
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "unknown host"
        if isinstance(cause, (TimeoutError, socket.timeout)) or type(cause).__name__ in (
            "ReadTimeout",
            "ConnectTimeout",
        ):
            return "timed out"
    innermost = chain[-1]
    text = (getattr(innermost, "strerror", None) or str(innermost) or type(innermost).__name__).strip()
    return redact(text.splitlines()[0] if text else type(innermost).__name__)[:200]


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and what it wraps (``__cause__``, ``__context__``, urllib3's ``reason``, exceptions among its
    args), breadth first."""
    chain, queue = [], [error]
    while queue:
        current = queue.pop(0)
        if any(current is seen for seen in chain):
            continue
        chain.append(current)
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        queue += [item for item in wrapped if isinstance(item, BaseException)]
    return chain
