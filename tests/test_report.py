"""The report's selection, read back from a real sqlite MLflow store filled with runs whose metrics we know."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from selfsup.config import load_sweep
from trainables.report import build_report
from trainables.selection import TRIAL_INDEX_TAG, best_first

OBJECTIVE = "val/knn/acc/frac_1.0"


def _spec(tmp_path, mode="max"):
    raw = yaml.safe_load(open("searchspaces/barlow.yaml"))
    raw["objective"] = {"metric": OBJECTIVE, "mode": mode}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_sweep(path)


def _store(tmp_path, trials):
    """A parent run and one child run per (creation index, outcome, objective, test accuracy)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("sslsweep/report-test", artifact_location=(tmp_path / "art").as_uri())
    parent = client.create_run(experiment, tags={"sslsweep.role": "sweep"}).info.run_id
    ids = {}
    # Created in reverse, so MLflow's own order (newest first) is not the creation order.
    for index, outcome, objective, test in reversed(trials):
        run = client.create_run(experiment, tags={"mlflow.parentRunId": parent, "sslsweep.outcome": outcome,
                                                  "sslsweep.trial_id": f"t{index}", TRIAL_INDEX_TAG: str(index)})
        client.log_param(run.info.run_id, "backbone", "conv1d")
        client.log_metric(run.info.run_id, OBJECTIVE, objective)
        if outcome == "finished":
            client.log_metric(run.info.run_id, "test/linear/acc/frac_1.0", test)
        client.set_terminated(run.info.run_id)
        ids[index] = run.info.run_id
    return uri, parent, ids


def test_report_selects_on_validation_and_breaks_ties_by_creation(tmp_path):
    spec = _spec(tmp_path)
    uri, parent, ids = _store(tmp_path, [
        (1, "finished", 0.75, 0.60),
        (2, "finished", 0.90, 0.70),   # the best validation score, tied ...
        (3, "finished", 0.90, 0.95),   # ... with a later trial whose TEST score is better: a trap
        (4, "pruned", 0.99, None),     # stopped early: a low-fidelity value never counts
        (5, "finished", 0.50, 0.99),
    ])
    report = build_report(spec, uri, parent, tmp_path / "reports")
    assert report.best_run_id == ids[2]
    assert report.best_per_backbone["trial"].iloc[0] == "t2"
    assert list(report.search_grid["trial"][:3]) == ["t4", "t2", "t3"]


def test_best_first_orders_by_objective_then_creation_for_min_and_missing_values():
    runs = pd.DataFrame({"metrics.loss": [0.3, 0.1, None, 0.1], f"tags.{TRIAL_INDEX_TAG}": ["4", "3", "1", "2"],
                         "run_id": ["a", "b", "c", "d"]})
    assert list(best_first(runs, "metrics.loss", "min")["run_id"]) == ["d", "b", "a", "c"]
    assert list(best_first(runs, "metrics.loss", "max")["run_id"]) == ["a", "d", "b", "c"]


def test_pretraining_gain_sets_supervised_baselines_beside_the_best_trial_and_never_selects_them(tmp_path):
    spec = _spec(tmp_path)
    uri, parent, ids = _store(tmp_path, [(1, "finished", 0.80, 0.70), (2, "finished", 0.60, 0.65)])
    client = MlflowClient(uri)
    experiment = client.get_run(parent).info.experiment_id
    # The report's protocol is the objective's (knn here).
    client.log_metric(ids[1], "test/knn/acc/frac_1.0", 0.70)
    client.log_metric(ids[1], "random_init/test/knn/acc/frac_1.0", 0.55)
    for fraction, accuracy, baseline_of in [(1.0, 0.62, ids[1]), (0.5, 0.40, ids[1]), (1.0, 0.99, ids[2])]:
        run = client.create_run(experiment, tags={
            "mlflow.parentRunId": parent, "sslsweep.outcome": "finished", "sslsweep.role": "supervised_baseline",
            "sslsweep.baseline_of": baseline_of, "sslsweep.trial_id": f"s{fraction}", TRIAL_INDEX_TAG: "9"})
        client.log_param(run.info.run_id, "backbone", "conv1d")
        client.log_param(run.info.run_id, "label_fraction", fraction)
        client.log_metric(run.info.run_id, OBJECTIVE, 1.0)  # the best objective of all: must not be selected
        client.log_metric(run.info.run_id, f"test/knn/acc/frac_{fraction}", accuracy)
    report = build_report(spec, uri, parent, tmp_path / "reports")
    assert report.best_run_id == ids[1] and "s1.0" not in set(report.search_grid["trial"])
    table = pd.read_csv(report.directory / "pretraining_gain.csv")
    full = table[table["labels"] == "100%"].iloc[0]
    assert (full["untrained"], full["supervised"], full["pretrained"]) == (0.55, 0.62, 0.70)
    assert full["gain over untrained"] == pytest.approx(0.15) and full["gain over supervised"] == pytest.approx(0.08)
    # Only the best trial's own baselines count (0.99 belongs to trial 2's); at 1 % none ran: blank.
    assert table[table["labels"] == "1%"]["supervised"].isna().all()
