"""The answer a sweep writes on its parent run (trainables/report/sweep_answer.py), read from a real sqlite MLflow
store laid out as a sweep writes it: which trial, how much it gains over the same backbone untrained, at which
label fraction, over how many test units, and the best trial of every other backbone."""

from __future__ import annotations

import math

import pytest
from report_store import Store, scores

from trainables.records.tags import TEST_UNIT_TAG
from trainables.report.sweep_answer import score_rows, selected_trial, sweep_answer, verdict
from trainables.report.tables import select
from trainables.tracking.runs import resolve_sweeps

OBJECTIVE = "val/linear/acc/frac_1.0"


def _trial(store, key, index, backbone, val, test, untrained, units=40, outcome="finished", extra=None):
    metrics = {OBJECTIVE: val, **scores("linear", test, names=("acc",)), **(extra or {})}
    metrics |= scores("linear", untrained, prefix="random_init/", names=("acc",))
    if units is not None:
        metrics["data/test_units"] = units
    params = {"backbone": backbone, "lr": 0.001}
    return store.child(key, "s", index, outcome, params, metrics)  # the key is its run name


@pytest.fixture
def sweep(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri())
    parent = store.parent("s", "answer", "barlow_twins", OBJECTIVE, mode="max")
    store.client.set_tag(parent, TEST_UNIT_TAG, "series")
    # gru wins on validation; conv1d has the better test score (test never selects); a pruned trial's high
    # low-fidelity value never ranks.
    knn = scores("knn", {0.1: (0.50,), 1.0: (0.66,)}, names=("acc",))
    knn |= scores("knn", {0.1: (0.55,), 1.0: (0.65,)}, prefix="random_init/", names=("acc",))
    _trial(store, "gru #1", 1, "gru", 0.80, {0.1: (0.60,), 1.0: (0.70,)}, {0.1: (0.45,), 1.0: (0.65,)}, extra=knn)
    _trial(store, "conv1d #2", 2, "conv1d", 0.75, {0.1: (0.62,), 1.0: (0.90,)}, {0.1: (0.50,), 1.0: (0.80,)})
    _trial(store, "conv1d #3", 3, "conv1d", 0.95, {}, {}, units=None, outcome="pruned")
    return resolve_sweeps(store.uri, ["answer"])[0], store


def test_the_parent_run_names_the_selected_trial_its_gain_at_the_fewest_labels_and_the_test_units(sweep):
    sweep, store = sweep
    answer = sweep_answer(sweep, "http://view")
    assert answer.tags["sslsweep.best_run_id"] == store.ids["gru #1"] and answer.tags["sslsweep.best_backbone"] == "gru"
    # Folded, the parent row says who won and by how much, where pretraining has the most to add: 10 % labels.
    assert answer.run_name == "answer-20250101-000000 · best gru, +15.0 pts over untrained at 10 % labels"
    assert answer.metrics["best/objective"] == 0.80
    assert answer.metrics["best/test/linear/acc/frac_0.1"] == 0.60
    assert math.isclose(answer.metrics["gain/test/linear/acc/frac_0.1"], 0.15)
    assert math.isclose(answer.metrics["gain/test/linear/acc/frac_1.0"], 0.05)
    note = answer.note
    assert note.startswith("**Selected: gru #1** (barlow_twins on gru)") and "= **0.8000**" in note
    assert "3 trials: 2 finished, 1 pruned, 0 failed." in note and "(http://view)" in note
    assert "| linear acc, 10 % labels | 0.600 | 0.450 | +0.150 |  |" in note  # no supervised baseline ran
    assert "| linear acc, 100 % labels | 0.700 | 0.650 | +0.050 |  |" in note
    assert "Test scores are over 40 test series: one is 2.5 points of accuracy." in note
    assert "| conv1d | conv1d #2 | 0.7500 | +12.0 pts at 10 % labels |" in note


def test_the_reports_verdict_and_the_registrys_rows_read_the_same_selection(sweep):
    sweep, store = sweep
    selections = select([sweep])
    selected = selected_trial(sweep, selections)
    assert selected.run["run_id"] == store.ids["gru #1"]
    rows = {(row.protocol, row.fraction): row for row in score_rows(selected)}
    assert set(rows) == {("knn", 0.1), ("knn", 1.0), ("linear", 0.1), ("linear", 1.0)}
    assert math.isclose(rows["linear", 0.1].gain, 0.15) and math.isnan(rows["linear", 0.1].supervised)
    text = verdict(sweep, selections)
    assert text.startswith(f"answer: selected gru #1 (barlow_twins / gru) on validation {OBJECTIVE} = 0.8000;")
    assert "at 10 % labels 0.600 against 0.450 untrained (+15.0 points), no supervised baseline run" in text
    # Every protocol's gains, flagged where negative or within one test unit (2.5 points over 40 series).
    assert text.endswith(
        "no supervised baseline run. Gains over untrained (acc, points): kNN -5.0 at 10 % (negative), +1.0 at "
        "100 % (within one unit); linear +15.0 at 10 %, +5.0 at 100 %. Over 40 test series: one is 2.5 points of "
        "accuracy."
    ), text


def test_backbones_tied_on_the_objective_are_listed_in_the_order_of_the_one_tie_break(tmp_path):
    """The other backbones' best trials, tied on the objective: the earlier trial first (the tie-break Tune, Optuna
    and the report share, records.selection.best_first), whatever order the selections come in."""
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri())
    store.parent("s", "tied", "barlow_twins", OBJECTIVE, mode="max")
    _trial(store, "gru #1", 1, "gru", 0.90, {1.0: (0.70,)}, {1.0: (0.65,)})
    _trial(store, "dilated_conv1d #3", 3, "dilated_conv1d", 0.80, {1.0: (0.60,)}, {1.0: (0.55,)})
    _trial(store, "conv1d #2", 2, "conv1d", 0.80, {1.0: (0.60,)}, {1.0: (0.55,)})
    sweep = resolve_sweeps(store.uri, ["tied"])[0]
    for selections in (select([sweep]), select([sweep])[::-1]):
        note = sweep_answer(sweep, "http://view", selections).note
        assert note.index("| conv1d | conv1d #2 |") < note.index("| dilated_conv1d | dilated_conv1d #3 |"), note
