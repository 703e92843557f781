"""A small sweep for the end-to-end tests: its search-space file (Barlow Twins on the bundled BasicMotions),
``tune.py`` run on it with every store under a home of the test's, and its records read back from that home's
MLflow store; and the same sweep for a simulated cluster (``cluster_sweep_file``), run with this environment
less every variable that points sslsweep at stores (``cluster_environment``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

import mlflow
import pandas as pd
import yaml
from before_ray import Ran, run_fresh, run_fresh_in_turn
from mlflow.tracking import MlflowClient

from trainables.tracking.stores import POINTING_VARIABLES

ROOT = Path(__file__).resolve().parents[1]


class RanSweep(NamedTuple):
    """A sweep ``run_tune`` ran: its search-space file, its SSLSWEEP_HOME and the finished ``tune.py`` process."""

    path: Path
    home: Path
    run: Ran


def sweep_file(tmp_path: Path, name: str, **overrides) -> Path:
    """A small Barlow Twins sweep on BasicMotions; it leaves the Model Registry alone unless ``final`` says
    otherwise (the tests that check the registry register)."""
    spec = yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text())
    spec["name"] = name
    spec["data"]["window"] = {"length": 50, "overlap": 0.5}
    spec["evaluation"] = {"protocols": ["linear", "knn"], "label_fractions": [0.5, 1.0], "unit": "series"}
    spec["final"] = {"registry": False}
    for key, value in overrides.items():
        spec[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def stores_under(home: Path) -> dict[str, str | None]:
    """The variables that put the stores and reports under ``home`` and give the sweep a Ray of its own (None:
    unset)."""
    return {
        "SSLSWEEP_HOME": str(home),
        "SSLSWEEP_REPORTS_DIR": str(home / "reports"),
        "MLFLOW_TRACKING_URI": None,
        "RAY_ADDRESS": None,
    }


def run_tune(path: Path, home: Path) -> Ran:
    """``python tune.py PATH`` in a fresh process with ``stores_under(home)``."""
    return run_fresh([path], stores_under(home), timeout=900)


def run_in_one_driver(paths: list[Path], home: Path) -> Ran:
    """``tune.py`` on each file in turn, in one driver process that keeps its Ray between them (as ``tune.py
    nightly`` does, ``before_ray.run_fresh_in_turn``): the second sweep skips the imports and Ray's start. Exit
    code: the worst of the sweeps'; their output, one after the other."""
    ran = run_fresh_in_turn([[path] for path in paths], stores_under(home))
    return Ran(max(r.returncode for r in ran), "".join(r.stdout for r in ran), "".join(r.stderr for r in ran))


def child_runs_frame(home: Path, parent_run_id: str) -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.get_run(parent_run_id).info.experiment_id
    return mlflow.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'")


def sweep_parent(home: Path, sweep: str):
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"sslsweep/{sweep}")
    assert experiment is not None, "the sweep's MLflow experiment exists"
    parents = client.search_runs([experiment.experiment_id], "tags.`sslsweep.role` = 'sweep'")
    assert len(parents) == 1
    return client, parents[0]


def cluster_environment(**updates: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in POINTING_VARIABLES}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(updates)
    return env


def cluster_sweep_file(tmp_path: Path, name: str, **overrides) -> Path:
    """``sweep_file`` with conv1d and a batch of 32 fixed, FIFO, one CPU per trial and the kNN objective."""
    barlow = yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text())
    settings = {
        "fixed": {**barlow.get("fixed", {}), "backbone": "conv1d", "batch_size": 32},
        "scheduler": {"type": "fifo"},
        "resources": {"workers": 1, "cpus_per_worker": 1, "gpus_per_worker": 0},
        "objective": {"metric": "val/knn/acc/frac_1.0", "mode": "max"},
    }
    return sweep_file(tmp_path, name, **{**settings, **overrides})
