"""Where a sweep records: absolute locations under SSLSWEEP_HOME, and a tracking server's own artifact store."""

from __future__ import annotations

from trainables.tracking.mlflow_callback import ensure_experiment
from trainables.tracking.stores import resolve_stores


def test_a_local_store_keeps_artifacts_under_the_home_and_a_server_keeps_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    local = resolve_stores()
    assert local.mlflow_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert local.mlflow_artifacts == (tmp_path / "mlartifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.sslsweep.svc:5000")
    server = resolve_stores()
    assert server.mlflow_uri == "http://mlflow.sslsweep.svc:5000" and server.mlflow_artifacts is None


def test_experiments_get_the_artifact_location_asked_for(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    placed = ensure_experiment(uri, "sslsweep/placed", (tmp_path / "art").as_uri())
    assert client.get_experiment(placed).artifact_location == (tmp_path / "art").as_uri() + "/sslsweep/placed"
    assert ensure_experiment(uri, "sslsweep/placed", None) == placed  # an existing experiment keeps its place
