"""``tune.py ui``: the MLflow UI on 127.0.0.1 over the sweeps' store, opened in a real (headless) browser."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest
from browser import CHROMIUM, ROOT, mlflow_ui, page_text
from report_store import BARLOW_OBJECTIVE, Store, barlow

from trainables.tracking.ui_links import finished_trials_filter, save_decision_view


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)")
def test_the_ui_lists_a_sweeps_runs_and_opens_each_sweeps_decision_view_in_a_browser(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    store = Store(f"sqlite:///{home / 'mlflow.db'}", (home / "mlartifacts").as_uri())
    barlow(store)
    experiment = store.client.get_run(store.ids["barlow"]).info.experiment_id
    # The decision view a sweep stores at its start (the driver), and an older sweep recorded without one.
    save_decision_view(store.uri, experiment, store.ids["barlow"], "max", ["test/linear/acc/frac_1.0"])
    store.parent("older", "older-sweep", "vicreg", BARLOW_OBJECTIVE, mode="max")
    store.child("o0", "older", 0, "finished", {"backbone": "conv1d"}, {BARLOW_OBJECTIVE: 0.5})
    store.child("o1", "older", 1, "pruned", {"backbone": "gru"}, {BARLOW_OBJECTIVE: 0.9})
    runs = len(store.client.search_runs([experiment]))
    with mlflow_ui(home) as (server, port):
        header, older, decision = (server.stdout.readline() for _ in range(3))
        text = page_text(f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs")
        # Each recorded sweep's decision view, newest first: its finished search trials only, best first; with
        # the sweep's own columns where it stored its view.
        assert older.startswith("  older-sweep: http://127.0.0.1:") and "searchFilter=" in older, header + older
        assert decision.startswith("  barlow-har: http://127.0.0.1:") and "viewStateShareKey=" in decision, decision
        older_view = page_text(older.split(": ", 1)[1].strip())
        view = page_text(decision.split(": ", 1)[1].strip())
        # MLflow's job runner (GenAI scorers) is off: the command, the server and its worker, no more.
        processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
        assert len(processes) <= 4, [" ".join(p.cmdline())[:120] for p in processes]
    assert "sslsweep/report-tables" in text  # the experiment, named as the sweep's
    assert "barlow-har-20250101-000000" in text  # its parent run, listed
    assert f"{runs} matching runs" in text  # and every run of the experiment counted
    finished = store.client.search_runs([experiment], finished_trials_filter(store.ids["barlow"]))
    assert 0 < len(finished) < runs and f"{len(finished)} matching runs" in view, view[:3000]
    assert "test/linear/acc/frac_1.0" in view and "Sort: objective" in view, view[:3000]
    assert "1 matching runs" in older_view or "1 matching run" in older_view, older_view[:3000]


def test_the_ui_refuses_an_impossible_port():
    run = subprocess.run(
        [sys.executable, "tune.py", "ui", "--port", "70000"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and run.stderr == "error: --port 70000: expected 1-65535\n"
