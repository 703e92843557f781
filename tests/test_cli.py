"""The ``sslsweep`` command that ``pip install`` puts beside Python (pyproject.toml ``[project.scripts]``):
``sslsweep run FILE`` is ``python tune.py FILE``, and the other commands are tune.py's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SSLSWEEP = shutil.which("sslsweep", path=str(Path(sys.executable).parent)) or shutil.which("sslsweep")


@pytest.mark.skipif(SSLSWEEP is None, reason="sslsweep is not installed here: pip install -e .")
def test_sslsweep_run_is_tune_py_and_a_bare_call_says_how(tmp_path):
    env = {**os.environ, "SSLSWEEP_HOME": str(tmp_path / "home")}
    for name in ("MLFLOW_TRACKING_URI", "SSLSWEEP_OPTUNA_STORAGE", "SSLSWEEP_RAY_STORAGE", "SSLSWEEP_REPORTS_DIR"):
        env.pop(name, None)
    searchspace = str(ROOT / "searchspaces" / "barlow.yaml")
    console = subprocess.run(
        [SSLSWEEP, "run", searchspace, "--dry-run", "--trials", "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    script = subprocess.run(
        [sys.executable, str(ROOT / "tune.py"), searchspace, "--dry-run", "--trials", "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert console.returncode == script.returncode == 0, console.stderr + script.stderr
    assert console.stdout == script.stdout and "3 trials x up to" in console.stdout
    bare = subprocess.run([SSLSWEEP], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2 and bare.stderr.startswith("usage: sslsweep run FILE")
