"""``tune.py ui``: the MLflow UI on 127.0.0.1 over the sweeps' store, opened in a real (headless) browser."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
from report_store import Store, barlow
from test_report import CHROMIUM, free_port, wait_for_port
from test_sweep_e2e import ROOT


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)")
def test_the_ui_lists_a_sweeps_runs_in_a_browser(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    store = Store(f"sqlite:///{home / 'mlflow.db'}", (home / "mlartifacts").as_uri())
    barlow(store)
    experiment = store.client.get_run(store.ids["barlow"]).info.experiment_id
    runs = len(store.client.search_runs([experiment]))
    port = free_port()
    env = {**os.environ, "SSLSWEEP_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    # A session of its own, so the test stops the UI and the server processes it started, and nothing else.
    server = subprocess.Popen(
        [sys.executable, "tune.py", "ui", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_port(port, server, "tune.py ui")
        page = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--virtual-time-budget=20000",
                "--dump-dom",
                f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        ).stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style[^>]*>.*?</style>", " ", page, flags=re.S)))
    assert "sslsweep/report-tables" in text  # the experiment, named as the sweep's
    assert "barlow-har-20250101-000000" in text  # its parent run, listed
    assert f"{runs} matching runs" in text  # and every run of the experiment counted


def test_the_ui_refuses_an_impossible_port():
    run = subprocess.run(
        [sys.executable, "tune.py", "ui", "--port", "70000"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and run.stderr == "error: --port 70000: expected 1-65535\n"
