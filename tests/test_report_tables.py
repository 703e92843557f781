"""Cross-sweep report tables, read back from a real sqlite MLflow store laid out the way a sweep writes it
(parent run per sweep with ``start_parent_run``'s tags, params and searchspace.yaml; child runs with the
callback's tags), with metrics we know: selection on validation, traps with better test scores, repeats,
supervised baselines, a missing label fraction, a re-run sweep name, a sweep without finished trials."""
from __future__ import annotations

import dataclasses
import time

import pandas as pd
import pytest
import yaml
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from trainables.report_runs import ReportError, metric_histories, resolve_sweeps
from trainables.report_tables import (per_class_iou, pretext_configurations, search_grid, segmentation_by_fraction,
                                      ssl_vs_supervised, technique_by_backbone)
from trainables.selection import TRIAL_INDEX_TAG

STATUS = {"finished": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}


class Store:
    """Writes runs as ``mlflow_logging`` does; remembers run ids by a short name for the assertions."""

    def __init__(self, uri: str, artifacts: str) -> None:
        self.uri, self.client, self.ids, self.tags = uri, MlflowClient(uri), {}, {}
        self.experiment = self.client.create_experiment("sslsweep/report-tables", artifact_location=artifacts)

    def parent(self, key, name, method, objective, *, mode=None, search=None, start_time=None, log_space=True):
        tags = {"sslsweep.sweep": name, "sslsweep.method": method, "sslsweep.pretext_data": "aeon:BasicMotions",
                "sslsweep.downstream_data": "aeon:BasicMotions", "sslsweep.objective": objective}
        run_id = self.client.create_run(self.experiment, start_time=start_time, run_name=f"{name}-20250101-000000",
                                        tags={**tags, "sslsweep.role": "sweep"}).info.run_id
        if log_space:
            objective_entry = {"metric": objective, **({"mode": mode} if mode else {})}
            space = {"name": name, "method": method, "objective": objective_entry, "search": search or {}}
            self.client.log_text(run_id, yaml.safe_dump(space, sort_keys=False), "searchspace.yaml")
        params = {"method": method, "trials": 8, "epochs": 12, "workers_per_trial": 1, "seed": 0, "scheduler": "asha"}
        self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
        self.ids[key] = run_id
        self.tags[key] = tags
        return run_id

    def child(self, key, parent, index, outcome, params, metrics, *, role="trial", tags=None, history=None):
        run_tags = {**self.tags[parent], "mlflow.parentRunId": self.ids[parent], "sslsweep.trial_id": key,
                    TRIAL_INDEX_TAG: str(index), "sslsweep.backbone": str(params.get("backbone", "")),
                    "sslsweep.role": role, "sslsweep.outcome": outcome, **(tags or {})}
        run_id = self.client.create_run(self.experiment, run_name=key, tags=run_tags).info.run_id
        now = int(time.time() * 1000)
        logged = [Metric(k, v, now, 0) for k, v in metrics.items()]
        logged += [Metric(k, v, now, step) for k, values in (history or {}).items() for step, v in enumerate(values)]
        self.client.log_batch(run_id, metrics=logged, params=[Param(k, str(v)) for k, v in params.items()])
        self.client.set_terminated(run_id, status=STATUS[outcome])
        self.ids[key] = run_id
        return run_id


def scores(protocol, by_fraction, prefix="", names=("acc", "f1")):
    """{fraction: (acc, f1)} -> {"test/linear/acc/frac_1.0": acc, ...}."""
    return {f"{prefix}test/{protocol}/{name}/frac_{fraction!r}": value
            for fraction, values in by_fraction.items() for name, value in zip(names, values)}


BARLOW_OBJECTIVE = "cv/linear/f1/frac_0.1"
BARLOW_SEARCH = {"backbone": {"type": "categorical", "choices": ["conv1d", "gru"]},
                 "projector_dim": {"type": "categorical", "choices": [256, 512, 1024]},
                 "lambda_offdiag": {"type": "float", "low": 0.001, "high": 0.01, "log": True}}


def barlow(store: Store) -> None:
    store.parent("barlow", "barlow-har", "barlow_twins", BARLOW_OBJECTIVE, mode="max", search=BARLOW_SEARCH)

    def trial(key, index, outcome, backbone, dim, lam, objective, metrics=None, **kwargs):
        params = {"backbone": backbone, "projector_dim": dim, "lambda_offdiag": lam, "lr": 0.001}
        store.child(key, "barlow", index, outcome, params,
                    {**({BARLOW_OBJECTIVE: objective} if objective is not None else {}), **(metrics or {})}, **kwargs)

    trial("t0", 0, "finished", "conv1d", 256, 0.001, 0.70, scores("linear", {1.0: (0.60, 0.50)}))
    trial("t1", 1, "finished", "conv1d", 1024, 0.001, 0.85, {  # the conv1d trial validation selects
        **scores("linear", {0.01: (0.35, 0.30), 0.5: (0.52, 0.47), 1.0: (0.583, 0.514)}),
        **scores("linear", {0.01: (0.25, 0.20), 0.5: (0.45, 0.35), 1.0: (0.50, 0.40)}, prefix="random_init/")})
    # A trap: the best test scores of all, but a worse validation score: never selected.
    trial("t2", 2, "finished", "conv1d", 512, 0.005, 0.80, scores("linear", {1.0: (0.95, 0.94)}))
    # gru's selected trial never evaluated 1 % of the labels: those cells must stay empty.
    trial("t3", 3, "finished", "gru", 256, 0.005, 0.75, {
        **scores("linear", {0.5: (0.50, 0.44), 1.0: (0.542, 0.476)}),
        **scores("linear", {1.0: (0.40, 0.30)}, prefix="random_init/")})
    trial("t4", 4, "pruned", "gru", 512, 0.001, 0.99)  # stopped early: a low-fidelity value never counts
    trial("t5", 5, "failed", "gru", 1024, 0.01, None)
    # Final repeats of t1 with other training seeds.
    for key, index, outcome, objective, acc in [("r6", 6, "finished", 0.84, 0.601), ("r7", 7, "finished", 0.86, 0.619),
                                                ("r8", 8, "failed", None, None)]:
        trial(key, index, outcome, "conv1d", 1024, 0.001, objective,
              scores("linear", {1.0: (acc, 0.52)}) if acc else {}, role="repeat",
              tags={"sslsweep.repeat_of": store.ids["t1"]})
    # Supervised baselines of t1 at 100 % and 50 % (none at 1 %), and one of the trap t2: never t1's.
    for key, of, fraction, acc in [("s1.0", "t1", 1.0, 0.55), ("s0.5", "t1", 0.5, 0.48), ("s2", "t2", 1.0, 0.99)]:
        store.child(key, "barlow", 9, "finished", {"backbone": "conv1d", "label_fraction": fraction},
                    {BARLOW_OBJECTIVE: 1.0, **scores("linear", {fraction: (acc, acc - 0.1)})},
                    role="supervised_baseline",
                    tags={"sslsweep.method": "supervised", "sslsweep.baseline_of": store.ids[of]})


def lfr(store: Store) -> None:
    objective = "val/linear/acc/frac_1.0"
    # An older run of the same sweep name: its (better) trial must not be reported.
    store.parent("lfr-old", "lfr-har", "lfr", objective, start_time=1_000)
    store.child("old0", "lfr-old", 0, "finished", {"backbone": "conv1d"},
                {objective: 0.99, **scores("linear", {1.0: (0.11, 0.11)})})
    store.parent("lfr", "lfr-har", "lfr", objective, start_time=2_000)  # no mode in the file: max
    store.child("l0", "lfr", 0, "finished", {"backbone": "conv1d", "num_projectors": 12}, {
        objective: 0.90, **scores("linear", {1.0: (0.701, 0.626)}),
        **scores("linear", {1.0: (0.55, 0.45)}, prefix="random_init/")})
    store.child("l1", "lfr", 1, "finished", {"backbone": "gru", "num_projectors": 8}, {
        objective: 0.80, **scores("linear", {1.0: (0.583, 0.533)})})


def cpc(store: Store) -> None:
    # No searchspace.yaml: a train/loss objective is assumed to be minimised.
    store.parent("cpc", "cpc-har", "cpc", "train/loss", log_space=False)
    for key, index, loss, acc in [("c0", 0, 0.5, 0.60), ("c1", 1, 0.3, 0.41)]:
        store.child(key, "cpc", index, "finished", {"backbone": "conv1d"},
                    {"train/loss": loss, **scores("linear", {1.0: (acc, acc - 0.1)})})


def seismic(store: Store) -> None:
    objective = "val/seg_frozen/miou/frac_0.05"
    search = {"num_projectors": {"type": "categorical", "choices": [5, 12, 16]}}
    store.parent("seismic", "lfr-seismic", "lfr", objective, mode="max", search=search)
    miou = {0.01: (0.52, 0.60), 0.05: (0.60, 0.68), 1.0: (0.7147, 0.80)}
    store.child("p0", "seismic", 0, "finished", {"backbone": "resnet50", "num_projectors": 12}, {
        objective: 0.70, **scores("seg_frozen", miou, names=("miou", "mf1")),
        **scores("seg_frozen", {0.01: (0.30, 0.35), 1.0: (0.55, 0.60)}, prefix="random_init/", names=("miou", "mf1")),
        "test/seg_frozen/iou_sand/frac_1.0": 0.80, "test/seg_frozen/iou_shale/frac_1.0": 0.60,
        "random_init/test/seg_frozen/iou_sand/frac_1.0": 0.50, "random_init/test/seg_frozen/iou_shale/frac_1.0": 0.55},
        history={"train/loss": [1.0, 0.8, 0.6]})
    store.child("p1", "seismic", 1, "finished", {"backbone": "resnet50", "num_projectors": 16}, {
        objective: 0.65, "train/loss": 0.5, **scores("seg_frozen", {1.0: (0.90, 0.90)}, names=("miou", "mf1"))})
    store.child("p2", "seismic", 2, "pruned", {"backbone": "resnet50", "num_projectors": 5}, {objective: 0.99})


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    directory = tmp_path_factory.mktemp("mlflow")
    store = Store(f"sqlite:///{directory / 'mlflow.db'}", (directory / "artifacts").as_uri())
    for fill in (barlow, lfr, cpc, seismic):
        fill(store)
    store.parent("empty", "empty-sweep", "simclr", "val/knn/acc/frac_1.0", mode="max")
    store.child("e0", "empty", 0, "pruned", {"backbone": "conv1d"}, {"val/knn/acc/frac_1.0": 0.5})
    store.child("e1", "empty", 1, "failed", {"backbone": "gru"}, {})
    return store


@pytest.fixture(scope="module")
def sweeps(store) -> dict:
    selected = resolve_sweeps(store.uri, ["barlow-har", "lfr-har", "cpc-har", "lfr-seismic"])
    return {sweep.name: sweep for sweep in selected}


def row_cells(markdown: str, *labels: str) -> list[str]:
    """The cells of the Markdown row whose leading cells are ``labels``."""
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[:len(labels)] == list(labels):
            return cells
    raise AssertionError(f"no row {labels} in\n{markdown}")


def column_cell(table, markdown: str, column: str, *labels: str) -> str:
    return row_cells(markdown, *labels)[table.frame.index.nlevels + list(table.frame.columns).index(column)]


# ------------------------------------------------------------------------------------------------ reading runs

def test_sweep_names_resolve_to_their_latest_parent_with_the_recorded_objective_mode(store, sweeps):
    assert sweeps["lfr-har"].parent_run_id == store.ids["lfr"]
    assert (sweeps["barlow-har"].mode, sweeps["barlow-har"].mode_source) == ("max", "searchspace.yaml")
    assert (sweeps["lfr-har"].mode, sweeps["lfr-har"].mode_source) == ("max", "searchspace.yaml")
    assert (sweeps["cpc-har"].mode, sweeps["cpc-har"].mode_source) == ("min", "assumed")
    runs = sweeps["barlow-har"].runs
    assert list(runs[runs["role"] == "trial"]["tags.sslsweep.trial_id"]) == ["t0", "t1", "t2", "t3", "t4", "t5"]
    assert {"run_id", "status", "sweep", "method", "backbone", "role", "outcome"} <= set(runs.columns)
    assert set(runs[runs["role"] == "supervised_baseline"]["method"]) == {"supervised"}
    assert sweeps["barlow-har"].searched == ["backbone", "projector_dim", "lambda_offdiag"]


def test_run_ids_and_filter_strings_select_parent_runs(store):
    [old] = resolve_sweeps(store.uri, [store.ids["lfr-old"]])
    assert old.parent_run_id == store.ids["lfr-old"] and list(old.runs["tags.sslsweep.trial_id"]) == ["old0"]
    by_method = resolve_sweeps(store.uri, ["tags.sslsweep.method = 'lfr'"])
    assert [(s.name, s.parent_run_id) for s in by_method] == [("lfr-har", store.ids["lfr"]),
                                                             ("lfr-seismic", store.ids["seismic"])]


def test_an_unknown_selector_names_itself_and_the_sweeps_that_exist(store):
    with pytest.raises(ReportError) as error:
        resolve_sweeps(store.uri, ["barlow-har", "no-such-sweep"])
    message = str(error.value)
    assert "'no-such-sweep'" in message and "\n" not in message
    for name in ("barlow-har", "cpc-har", "empty-sweep", "lfr-har", "lfr-seismic"):
        assert name in message
    with pytest.raises(ReportError, match="is a trial of sweep 'barlow-har', not its parent"):
        resolve_sweeps(store.uri, [store.ids["t1"]])


def test_a_sweep_without_a_finished_trial_is_named(store):
    with pytest.raises(ReportError, match="empty-sweep") as error:
        resolve_sweeps(store.uri, ["lfr-har", "empty-sweep"])
    assert "lfr-har" not in str(error.value) and "1 failed, 1 pruned" in str(error.value)


def test_metric_histories_are_long_per_step(store):
    history = metric_histories(store.uri, [store.ids["p0"]], ["train/loss"])
    assert list(history.columns) == ["run_id", "key", "step", "value"]
    assert list(history["step"]) == [0, 1, 2] and list(history["value"]) == [1.0, 0.8, 0.6]


# ------------------------------------------------------------------------------------------------ tables

def test_technique_by_backbone_selects_on_validation_over_two_methods(store, sweeps):
    table = technique_by_backbone([sweeps["barlow-har"], sweeps["lfr-har"]])
    assert list(table.frame.index) == [("barlow_twins", "conv1d"), ("barlow_twins", "gru"), ("lfr", "conv1d"),
                                       ("lfr", "gru")]
    # t1 (validation 0.85) is chosen, not the trap t2 (validation 0.80, test 0.95) nor the pruned t4 (0.99).
    assert table.sources.loc[("barlow_twins", "conv1d"), "run_id"] == store.ids["t1"]
    assert table.sources.loc[("barlow_twins", "gru"), "run_id"] == store.ids["t3"]
    assert 0.95 not in set(table.frame["SSL acc"])
    assert BARLOW_OBJECTIVE in table.caption and "val/linear/acc/frac_1.0" in table.caption
    # The selected trial's baseline at 100 % (0.55), never the trap's (0.99); none for gru: an empty cell.
    assert table.frame.loc[("barlow_twins", "conv1d"), "supervised acc"] == 0.55
    assert pd.isna(table.frame.loc[("barlow_twins", "gru"), "supervised acc"])
    markdown = table.to_markdown()
    assert column_cell(table, markdown, "supervised acc", "barlow_twins", "gru") == ""
    # Untrained 0.55 -> pretrained 0.701: +15.1 points; lfr/gru logged no untrained score: empty gain.
    assert column_cell(table, markdown, "gain acc (pts)", "lfr", "conv1d") == "**+15.1**"
    assert column_cell(table, markdown, "gain acc (pts)", "lfr", "gru") == ""


def test_the_best_value_of_each_column_is_bold(sweeps):
    table = technique_by_backbone([sweeps["barlow-har"], sweeps["lfr-har"]])
    markdown, html = table.to_markdown(), table.to_html()
    assert column_cell(table, markdown, "SSL acc", "lfr", "conv1d") == "**0.701**"
    assert [bool(b) for b in table.best["SSL acc"]] == [False, False, True, False]
    assert markdown.count("**0.701**") == 1 and "<strong>0.701</strong>" in html and html.startswith("<table")
    assert column_cell(table, markdown, "SSL acc", "barlow_twins", "gru") == "0.542"


def test_repeated_configurations_show_mean_std_and_n(tmp_path, sweeps):
    table = technique_by_backbone([sweeps["barlow-har"]])
    markdown = table.to_markdown()
    # t1 and its two finished repeats (0.583, 0.601, 0.619); the failed repeat does not count.
    assert column_cell(table, markdown, "SSL acc", "barlow_twins", "conv1d") == "**0.601 ± 0.018 (n=3)**"
    assert "mean ± std" in table.caption
    csv = pd.read_csv(table.to_csv(tmp_path / "t.csv"))
    assert csv.loc[0, "SSL acc n"] == 3 and csv.loc[0, "SSL acc"] == pytest.approx(0.601)
    assert "One run per cell." in technique_by_backbone([sweeps["lfr-har"]]).caption


def test_a_missing_label_fraction_is_an_empty_cell_not_zero(sweeps):
    table = ssl_vs_supervised([sweeps["barlow-har"], sweeps["lfr-har"]])
    markdown = table.to_markdown()
    labels = [key[2] for key in table.frame.index if key[:2] == ("barlow_twins", "gru")]
    assert labels == ["1 %", "50 %", "100 %"]
    assert column_cell(table, markdown, "SSL acc", "barlow_twins", "gru", "1 %") == ""
    assert column_cell(table, markdown, "SSL acc", "lfr", "conv1d", "50 %") == ""
    assert column_cell(table, markdown, "supervised acc", "barlow_twins", "conv1d", "1 %") == ""
    assert column_cell(table, markdown, "supervised acc", "barlow_twins", "conv1d", "50 %") == "**0.480**"  # alone
    assert "0.000" not in markdown
    # Best per label fraction: at 50 % only barlow/conv1d (0.52) and barlow/gru (0.50) were evaluated.
    assert column_cell(table, markdown, "SSL acc", "barlow_twins", "conv1d", "50 %") == "**0.520**"


def test_markdown_is_identical_when_built_twice_from_the_store(store, sweeps):
    again = {s.name: s for s in resolve_sweeps(store.uri, ["lfr-har", "barlow-har"])}
    first = technique_by_backbone([sweeps["barlow-har"], sweeps["lfr-har"]]).to_markdown()
    assert technique_by_backbone([again["barlow-har"], again["lfr-har"]]).to_markdown() == first
    assert (ssl_vs_supervised([sweeps["barlow-har"]]).to_markdown()
            == ssl_vs_supervised([again["barlow-har"]]).to_markdown())


def test_search_grid_puts_each_validation_mean_in_its_cell(sweeps):
    table = search_grid(sweeps["barlow-har"], ["backbone", "projector_dim"], ["lambda_offdiag"])
    frame = table.frame
    assert list(frame.index) == [("conv1d", "256"), ("conv1d", "512"), ("conv1d", "1024"), ("gru", "256")]
    assert list(frame.columns) == ["lambda_offdiag=0.001", "lambda_offdiag=0.005"]
    assert frame.loc[("conv1d", "1024"), "lambda_offdiag=0.001"] == pytest.approx(0.85)  # t1, r6, r7
    assert frame.loc[("conv1d", "512"), "lambda_offdiag=0.005"] == pytest.approx(0.80)
    assert frame.loc[("gru", "256"), "lambda_offdiag=0.005"] == pytest.approx(0.75)
    assert pd.isna(frame.loc[("gru", "256"), "lambda_offdiag=0.001"])   # pruned/failed runs never enter
    markdown = table.to_markdown()
    assert row_cells(markdown, "conv1d", "1024")[2] == "**0.850 ± 0.010 (n=3)**"
    assert row_cells(markdown, "conv1d", "256") == ["conv1d", "256", "0.700", ""]
    assert markdown.count("**") == 2 and BARLOW_OBJECTIVE in table.caption
    with pytest.raises(ReportError, match="batch_size"):
        search_grid(sweeps["barlow-har"], ["batch_size"], ["lambda_offdiag"])


def test_a_minimised_objective_selects_the_lowest_value(store, sweeps):
    table = technique_by_backbone([sweeps["cpc-har"]])
    assert table.sources.loc[("cpc", "conv1d"), "run_id"] == store.ids["c1"]
    assert "train/loss (lower is better, mode assumed" in table.caption


def test_segmentation_tables(store, sweeps):
    seismic = sweeps["lfr-seismic"]
    by_fraction = segmentation_by_fraction([seismic, sweeps["lfr-har"]])
    assert list(by_fraction.frame.columns) == ["1 %", "5 %", "100 %"]
    markdown = by_fraction.to_markdown()
    assert row_cells(markdown, "lfr", "resnet50", "pretrained")[3:] == ["**0.520**", "**0.600**", "**0.715**"]
    assert row_cells(markdown, "lfr", "resnet50", "random init")[3:] == ["0.300", "", "0.550"]
    assert by_fraction.sources.loc[("lfr", "resnet50", "pretrained"), "run_id"] == store.ids["p0"]

    classes = per_class_iou(seismic)
    assert list(classes.frame.index.get_level_values("class")) == ["sand", "shale"]
    assert row_cells(classes.to_markdown(), "sand")[1:] == ["**0.800**", "0.500", "**+30.0**"]

    configurations = pretext_configurations(seismic)
    assert list(configurations.frame.index) == [("p0", "12"), ("p1", "16")]
    markdown = configurations.to_markdown()
    assert row_cells(markdown, "p0", "12")[2:] == ["0.600", "**0.700**"]   # the lowest loss and best validation
    assert row_cells(markdown, "p1", "16")[2:] == ["**0.500**", "0.650"]
    assert "One run per cell." in configurations.caption


def test_one_row_never_compares_trials_selected_on_different_objectives(sweeps):
    knn = dataclasses.replace(sweeps["lfr-har"], name="lfr-har-knn", objective="val/knn/acc/frac_1.0")
    with pytest.raises(ReportError, match="lfr / conv1d: sweeps lfr-har, lfr-har-knn select on different objectives"):
        technique_by_backbone([sweeps["lfr-har"], knn])
