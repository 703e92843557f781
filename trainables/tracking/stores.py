"""Where a sweep keeps what it records: absolute locations, never the working directory.

``ray job submit --working-dir .`` runs the driver in a temporary copy of the project, so anything written
relative to the working directory is lost with it. Everything therefore lives under ``SSLSWEEP_HOME``
(default ``~/.sslsweep``) unless its own variable points elsewhere:

- MLflow:  ``MLFLOW_TRACKING_URI``   default ``sqlite:///$SSLSWEEP_HOME/mlflow.db``, artifacts in
  ``$SSLSWEEP_HOME/mlartifacts`` (MLflow 3 refuses the plain file store).
- Optuna:  ``SSLSWEEP_OPTUNA_STORAGE`` default ``sqlite:///$SSLSWEEP_HOME/optuna.db`` (PostgreSQL on clusters).
- Ray:     ``SSLSWEEP_RAY_STORAGE``   default ``$SSLSWEEP_HOME/ray_results`` (shared storage or s3:// on clusters).
- Reports: ``SSLSWEEP_REPORTS_DIR``   default ``reports/`` beside tune.py, or ``$SSLSWEEP_HOME/reports`` in a
  Ray job that uploaded its working directory (that copy is deleted after the job). Also logged to MLflow.

A store URI may carry a password (``postgresql://user:secret@db/optuna``). It lives in the environment of the
processes that use it and nowhere else: every message prints ``redact(uri)``, child processes get it through
their environment, and the objects Ray pickles into its experiment state (the MLflow callback, the Optuna
searcher's storage) keep only the redacted form and read the full URI back from the variable where they run
(``with_credentials``), so no file Ray writes holds a password.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # trainables/tracking/stores.py -> the checkout

# The variable each store comes from; unset, the store is the default under SSLSWEEP_HOME.
MLFLOW_VARIABLE = "MLFLOW_TRACKING_URI"
OPTUNA_VARIABLE = "SSLSWEEP_OPTUNA_STORAGE"
RAY_STORAGE_VARIABLE = "SSLSWEEP_RAY_STORAGE"
REPORTS_VARIABLE = "SSLSWEEP_REPORTS_DIR"
HOME_VARIABLE = "SSLSWEEP_HOME"
HIDDEN = "***"  # what a password becomes in a redacted URI
# Everything in the environment that points a sweep at stores or a Ray cluster: what a test or a benchmark that starts
# its own removes from the environment it hands to `tune.py` (cluster/local.sh's state directory included).
POINTING_VARIABLES = (
    "RAY_ADDRESS",
    "RAY_AUTH_MODE",
    "RAY_AUTH_TOKEN",
    "RAY_AUTH_TOKEN_PATH",
    MLFLOW_VARIABLE,
    HOME_VARIABLE,
    OPTUNA_VARIABLE,
    RAY_STORAGE_VARIABLE,
    REPORTS_VARIABLE,
    "SSLSWEEP_LOCAL_CLUSTER_DIR",
)


class StoresError(ValueError):
    """A store location that cannot be used (``SSLSWEEP_HOME`` that cannot be created); one line."""


class CredentialsError(StoresError):
    """A redacted store URI whose password is not in the environment where it is needed; one line."""


def redact(text: str) -> str:
    """``text`` with the password of every URI's user part (``scheme://user:PASSWORD@host``) and every
    ``password=`` query value replaced by ``***``: the one form in which a store URI is printed, logged, raised
    or pickled."""
    # The password runs to the '@' before the host, as database drivers read it: it may hold '/', '?' or '#'.
    text = re.sub(r"(://[^/@:?#\s]*):[^@\s]*@", lambda match: f"{match[1]}:{HIDDEN}@", text)
    return re.sub(r"(?i)([?&](?:password|passwd|pwd)=)[^&#\s]*", lambda match: f"{match[1]}{HIDDEN}", text)


def with_credentials(uri: str, variable: str) -> str:
    """The full URI behind ``uri``, a store URI as pickled (``redact``ed), read from ``variable`` where this
    runs; ``uri`` itself when it hides nothing. ``CredentialsError`` when the variable is unset or names another
    store (only the password may differ: a rotated password is picked up)."""
    if redact(uri) != uri or HIDDEN not in uri:
        return uri
    value = os.environ.get(variable, "")
    if redact(value) != uri:
        found = f"it holds {redact(value)}" if value else "it is unset"
        raise CredentialsError(f"{variable}: expected {uri} with its password where the sweep runs ({found})")
    return value


DEFAULT_HOME = Path.home() / ".sslsweep"


@dataclass(frozen=True)
class Stores:
    home: Path
    mlflow_uri: str
    mlflow_artifacts: str | None  # None with a tracking server: the server's own artifact store decides
    optuna_url: str
    ray_storage: str
    reports_dir: Path

    def ui_command(self) -> str:
        """The command that opens the MLflow UI on this store; it names no password (``tune.py ui`` reads the
        store from the environment)."""
        if _is_server(self.mlflow_uri):
            return f"open {redact(self.mlflow_uri)} in a browser"
        if redact(self.mlflow_uri) != self.mlflow_uri:
            return f"python tune.py ui   (with {MLFLOW_VARIABLE} set as for the sweep)"
        if self.mlflow_uri == f"sqlite:///{_resolved(HOME_VARIABLE, DEFAULT_HOME) / 'mlflow.db'}":
            return "python tune.py ui"
        return f"{MLFLOW_VARIABLE}='{self.mlflow_uri}' python tune.py ui"


def resolve_stores() -> Stores:
    """Where this sweep's stores are, from the environment; ``StoresError`` when ``SSLSWEEP_HOME`` cannot be
    created."""
    home = _resolved(HOME_VARIABLE, Path(os.environ.get(HOME_VARIABLE, DEFAULT_HOME)))
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoresError(
            f"{HOME_VARIABLE} {home}: cannot be created ({error.strerror or error}); expected a "
            f"writable directory for sslsweep's stores"
        ) from None
    return Stores(
        home=home,
        mlflow_uri=os.environ.get(MLFLOW_VARIABLE) or f"sqlite:///{home / 'mlflow.db'}",
        mlflow_artifacts=None if _is_server(os.environ.get(MLFLOW_VARIABLE)) else (home / "mlartifacts").as_uri(),
        optuna_url=os.environ.get(OPTUNA_VARIABLE) or f"sqlite:///{home / 'optuna.db'}",
        ray_storage=os.environ.get(RAY_STORAGE_VARIABLE) or str(home / "ray_results"),
        reports_dir=_resolved(REPORTS_VARIABLE, Path(os.environ.get(REPORTS_VARIABLE) or _default_reports_dir(home))),
    )


def _resolved(variable: str, path: Path) -> Path:
    """``path`` made absolute, links followed; ``StoresError`` for a symlink loop."""
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: Python < 3.13's "Symlink loop"
        raise StoresError(
            f"{variable} {path}: cannot be resolved ({error}); expected a directory, not a symlink loop"
        ) from None


def _is_server(tracking_uri: str | None) -> bool:
    """An MLflow tracking server keeps artifacts where it is told (``--artifacts-destination``, e.g. S3); a
    ``file://`` location chosen here would put them on this machine's disk, lost with a cluster's driver pod."""
    return bool(tracking_uri) and tracking_uri.startswith(("http://", "https://"))


def _default_reports_dir(home: Path) -> Path:
    job_config = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")  # set by `ray job submit`
    if job_config.get("runtime_env", {}).get("working_dir"):
        return home / "reports"
    return PROJECT_ROOT / "reports"
