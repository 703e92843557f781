"""``tune.py ui``: the MLflow UI on 127.0.0.1 over the sweeps' store, opened in a real (headless) browser."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from report_store import Store, barlow
from test_report import CHROMIUM, free_port
from test_sweep_e2e import ROOT



def wait_for(port: int, server: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"tune.py ui exited with {server.returncode}: {server.stdout.read()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the MLflow UI did not listen on 127.0.0.1:{port} within {seconds} s")


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
    server = subprocess.Popen([sys.executable, "tune.py", "ui", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(port, server)
        page = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                               "--dump-dom", f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs"],
                              capture_output=True, text=True, timeout=180).stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style[^>]*>.*?</style>", " ", page, flags=re.S)))
    assert "sslsweep/report-tables" in text                   # the experiment, named as the sweep's
    assert "barlow-har-20250101-000000" in text               # its parent run, listed
    assert f"{runs} matching runs" in text                     # and every run of the experiment counted


def test_the_ui_refuses_an_impossible_port():
    run = subprocess.run([sys.executable, "tune.py", "ui", "--port", "70000"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and run.stderr == "error: --port 70000: expected 1-65535\n"
