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
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Stores:
    home: Path
    mlflow_uri: str
    mlflow_artifacts: str | None   # None with a tracking server: the server's own artifact store decides
    optuna_url: str
    ray_storage: str
    reports_dir: Path

    def ui_command(self) -> str:
        return f"mlflow ui --backend-store-uri '{self.mlflow_uri}' --host 127.0.0.1 --port 5000"


def resolve_stores() -> Stores:
    home = Path(os.environ.get("SSLSWEEP_HOME", Path.home() / ".sslsweep")).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return Stores(
        home=home,
        mlflow_uri=os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}",
        mlflow_artifacts=None if _is_server(os.environ.get("MLFLOW_TRACKING_URI")) else (home / "mlartifacts").as_uri(),
        optuna_url=os.environ.get("SSLSWEEP_OPTUNA_STORAGE") or f"sqlite:///{home / 'optuna.db'}",
        ray_storage=os.environ.get("SSLSWEEP_RAY_STORAGE") or str(home / "ray_results"),
        reports_dir=Path(os.environ.get("SSLSWEEP_REPORTS_DIR") or _default_reports_dir(home)).expanduser().resolve(),
    )


def _is_server(tracking_uri: str | None) -> bool:
    """An MLflow tracking server keeps artifacts where it is told (``--artifacts-destination``, e.g. S3); a
    ``file://`` location chosen here would put them on this machine's disk, lost with a cluster's driver pod."""
    return bool(tracking_uri) and tracking_uri.startswith(("http://", "https://"))


def _default_reports_dir(home: Path) -> Path:
    job_config = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")  # set by `ray job submit`
    if job_config.get("runtime_env", {}).get("working_dir"):
        return home / "reports"
    return PROJECT_ROOT / "reports"
