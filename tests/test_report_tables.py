"""Cross-sweep report tables, read back from a real sqlite MLflow store laid out the way a sweep writes it
(parent run per sweep with ``start_parent_run``'s tags, params and searchspace.yaml; child runs with the
callback's tags), with metrics we know: selection on validation, traps with better test scores, repeats,
supervised baselines, a missing label fraction, a re-run sweep name, a sweep without finished trials."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest
from report_store import BARLOW_OBJECTIVE, HOSTILE, HOSTILE_VALUE, Store, filled_store, knn

from trainables.report.markdown import markdown_text
from trainables.report.tables import (
    Table,
    per_class_iou,
    pretext_configurations,
    search_grid,
    segmentation_by_fraction,
    select,
    ssl_vs_supervised,
    technique_by_backbone,
)
from trainables.report.tables._table import Cell, table_from_cells
from trainables.tracking.runs import ReportError, metric_histories, resolve_sweeps

FULL = "linear acc 100 %"  # the report protocol's headline metric at 100 % of the labels, as a column names it


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return filled_store(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(scope="module")
def sweeps(store) -> dict:
    selected = resolve_sweeps(store.uri, ["barlow-har", "lfr-har", "cpc-har", "lfr-seismic"])
    return {sweep.name: sweep for sweep in selected}


def row_cells(markdown: str, *labels: str) -> list[str]:
    """The cells of the Markdown row whose leading cells are ``labels``."""
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[: len(labels)] == list(labels):
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
    assert [(s.name, s.parent_run_id) for s in by_method] == [
        ("lfr-har", store.ids["lfr"]),
        ("lfr-seismic", store.ids["seismic"]),
    ]


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


def test_metric_histories_read_runs_in_bulk_in_the_order_given_keeping_a_repeated_steps_later_value(
    tmp_path, monkeypatch
):
    import mlflow.store.tracking.sqlalchemy_store as sqlalchemy_store
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    import trainables.tracking.runs as runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("histories")
    ids = [client.create_run(experiment).info.run_id for _ in range(5)]
    for number, run_id in enumerate(ids):
        losses = [Metric("train/loss", number + 1 / (step + 1), 1000 + step, step) for step in range(3)]
        client.log_batch(run_id, metrics=[*losses, Metric("health/rankme", float(number), 1000, 0)])
    client.log_batch(ids[2], metrics=[Metric("train/loss", -1.0, 5000, 1)])  # epoch 1 again, after a resume
    queries = []
    bulk = sqlalchemy_store.SqlAlchemyStore.get_metric_history_bulk_interval
    monkeypatch.setattr(
        sqlalchemy_store.SqlAlchemyStore,
        "get_metric_history_bulk_interval",
        lambda self, run_ids, *args, **kwargs: queries.append(list(run_ids)) or bulk(self, run_ids, *args, **kwargs),
    )
    monkeypatch.setattr(runs, "HISTORY_RUNS_PER_QUERY", 2)
    order = [ids[4], ids[0], ids[2], ids[1], ids[3]]
    history = metric_histories(uri, order, ["train/loss", "health/rankme"])
    assert len(queries) == 6  # 3 chunks of at most 2 runs, for each of the 2 keys
    assert list(dict.fromkeys(history["run_id"])) == order
    assert list(history[history["run_id"] == ids[0]]["key"]) == ["train/loss"] * 3 + ["health/rankme"]
    again = history[(history["run_id"] == ids[2]) & (history["key"] == "train/loss")]
    assert list(again["step"]) == [0, 1, 2] and list(again["value"]) == [3.0, -1.0, 2 + 1 / 3]


# ------------------------------------------------------------------------------------------------ tables


def test_technique_by_backbone_selects_on_validation_over_two_methods(store, sweeps):
    table = technique_by_backbone([sweeps["barlow-har"], sweeps["lfr-har"]])
    assert list(table.frame.index) == [
        ("barlow_twins", "conv1d"),
        ("barlow_twins", "gru"),
        ("lfr", "conv1d"),
        ("lfr", "gru"),
    ]
    # t1 (validation 0.85) is chosen, not the trap t2 (validation 0.80, test 0.95) nor the pruned t4 (0.99).
    assert table.sources.loc[("barlow_twins", "conv1d"), "run_id"] == store.ids["t1"]
    assert table.sources.loc[("barlow_twins", "gru"), "run_id"] == store.ids["t3"]
    assert 0.95 not in set(table.frame[f"SSL {FULL}"])
    assert BARLOW_OBJECTIVE in table.caption and "val/linear/acc/frac_1.0" in table.caption
    # The selected trial's baseline at 100 % (0.55), never the trap's (0.99); none for gru: an empty cell.
    assert table.frame.loc[("barlow_twins", "conv1d"), f"supervised {FULL}"] == 0.55
    assert pd.isna(table.frame.loc[("barlow_twins", "gru"), f"supervised {FULL}"])
    markdown = table.to_markdown()
    assert column_cell(table, markdown, f"supervised {FULL}", "barlow_twins", "gru") == ""
    # Untrained 0.55 -> pretrained 0.701: +15.1 points; lfr/gru logged no untrained score: empty gain.
    assert column_cell(table, markdown, f"gain {FULL} (pts)", "lfr", "conv1d") == "+15.1"
    assert column_cell(table, markdown, f"gain {FULL} (pts)", "lfr", "gru") == ""


def test_the_best_value_of_each_column_is_bold(sweeps):
    table = technique_by_backbone([sweeps["barlow-har"], sweeps["lfr-har"]])
    markdown, html = table.to_markdown(), table.to_html()
    assert column_cell(table, markdown, f"SSL {FULL}", "lfr", "conv1d") == "**0.701**"
    assert [bool(b) for b in table.best[f"SSL {FULL}"]] == [False, False, True, False]
    assert markdown.count("**0.701**") == 1 and "<strong>0.701</strong>" in html and html.startswith("<table")
    assert column_cell(table, markdown, f"SSL {FULL}", "barlow_twins", "gru") == "0.542"
    assert "Best SSL score per column in bold" in table.caption


def bold_columns(table) -> set[str]:
    """The columns with a cell in bold."""
    return {column for column in table.frame.columns if table.best[column].any()}


def test_bold_never_marks_untrained_supervised_gain_or_loss_columns(sweeps):
    """Only cells that compete are bold: pretrained scores (and validation objectives), never a reference (the
    backbone untrained, a supervised baseline), a gain over one, or a loss of differently shaped configurations."""
    technique = technique_by_backbone([sweeps["barlow-har"], sweeps["lfr-har"]])
    assert {"untrained linear acc 100 %", "supervised linear acc 100 %", "gain linear acc 100 % (pts)"} <= set(
        technique.frame.columns
    )
    assert bold_columns(technique) == {c for c in technique.frame.columns if c.startswith("SSL ")}
    markdown = technique.to_markdown()
    for column in ("untrained linear acc 100 %", "supervised linear acc 100 %", "gain linear acc 100 % (pts)"):
        cells = [column_cell(technique, markdown, column, *key) for key in technique.frame.index]
        assert any(cells) and not any("**" in cell for cell in cells), (column, cells)

    comparison = ssl_vs_supervised([sweeps["barlow-har"], sweeps["lfr-har"]])
    assert bold_columns(comparison) == {"SSL acc", "SSL F1"}
    assert comparison.frame["gain over untrained acc (pts)"].notna().any()

    configurations = pretext_configurations(sweeps["lfr-seismic"])
    assert not configurations.best["final train/loss"].any()
    assert "lowest loss" not in configurations.caption

    classes = per_class_iou(sweeps["lfr-seismic"])
    assert not classes.best.any().any() and "**" not in classes.to_markdown()


def test_only_competing_rows_are_bold():
    """A reference row (the backbone randomly initialised) with the best value of its column stays plain: the
    best of the rows that compete is bold."""
    rows = [
        (("lfr", "pretrained"), {"1 %": Cell(0.40, math.nan, 1), "100 %": Cell(0.70, math.nan, 1)}),
        (("lfr", "random init"), {"1 %": Cell(0.45, math.nan, 1), "100 %": Cell(0.55, math.nan, 1)}),
        (("simclr", "pretrained"), {"1 %": Cell(0.30, math.nan, 1), "100 %": Cell(0.60, math.nan, 1)}),
    ]
    table = table_from_cells(
        "t", "c", ["method", "encoder"], rows, ["1 %", "100 %"], {"1 %": "max", "100 %": "max"},
        competing=[True, False, True],
    )  # fmt: skip
    assert table.best["1 %"].tolist() == [True, False, False]
    assert table.best["100 %"].tolist() == [True, False, False]
    everyone = table_from_cells("t", "c", ["method", "encoder"], rows, ["1 %"], {"1 %": "max"})
    assert everyone.best["1 %"].tolist() == [False, True, False]


def test_the_headline_is_at_the_fewest_labels_each_trial_was_tested_with_and_at_100_percent(sweeps):
    """Where labels are scarce, pretraining has the most to add: the headline fraction is the smallest evaluated
    (barlow/conv1d 1 %, barlow/gru 50 %: it never tested 1 %; lfr only 100 %), and 100 % is shown beside it."""
    selections = {(s.method, s.backbone): s for s in select([sweeps["barlow-har"], sweeps["lfr-har"]])}
    assert {key: s.headline_fraction for key, s in selections.items()} == {
        ("barlow_twins", "conv1d"): 0.01,
        ("barlow_twins", "gru"): 0.5,
        ("lfr", "conv1d"): 1.0,
        ("lfr", "gru"): 1.0,
    }
    table = technique_by_backbone([sweeps["barlow-har"], sweeps["lfr-har"]])
    assert [c for c in table.frame.columns if c.startswith("SSL ")] == [
        "SSL linear acc 1 %",
        "SSL linear acc 50 %",
        "SSL linear acc 100 %",
    ]
    markdown = table.to_markdown()
    # t1 alone tested 1 % (0.35 against 0.25 untrained); its repeats only 100 %.
    assert column_cell(table, markdown, "SSL linear acc 1 %", "barlow_twins", "conv1d") == "**0.350**"
    assert column_cell(table, markdown, "gain linear acc 1 % (pts)", "barlow_twins", "conv1d") == "+10.0"
    assert column_cell(table, markdown, "SSL linear acc 1 %", "barlow_twins", "gru") == ""
    assert "(the smallest label fraction evaluated" in table.caption and "1 %, 50 %, 100 %" in table.caption
    # A sweep tested at 100 % only: one fraction, no "and at 100 %" beside itself.
    lfr = technique_by_backbone([sweeps["lfr-har"]])
    assert list(lfr.frame.columns)[0] == "SSL linear acc 100 %" and "and at 100 %" not in lfr.caption


def test_repeated_configurations_show_mean_std_and_n(tmp_path, sweeps):
    table = technique_by_backbone([sweeps["barlow-har"]])
    markdown = table.to_markdown()
    # t1 and its two finished repeats (0.583, 0.601, 0.619); the failed repeat does not count.
    assert column_cell(table, markdown, f"SSL {FULL}", "barlow_twins", "conv1d") == "**0.601 ± 0.018 (n=3)**"
    assert "mean ± std" in table.caption
    csv = pd.read_csv(table.to_csv(tmp_path / "t.csv"))
    assert csv.loc[0, f"SSL {FULL} n"] == 3 and csv.loc[0, f"SSL {FULL}"] == pytest.approx(0.601)
    assert "One run per cell." in technique_by_backbone([sweeps["lfr-har"]]).caption


def test_a_missing_label_fraction_is_an_empty_cell_not_zero(sweeps):
    table = ssl_vs_supervised([sweeps["barlow-har"], sweeps["lfr-har"]])
    markdown = table.to_markdown()
    labels = [key[2] for key in table.frame.index if key[:2] == ("barlow_twins", "gru")]
    assert labels == ["1 %", "50 %", "100 %"]
    assert column_cell(table, markdown, "SSL acc", "barlow_twins", "gru", "1 %") == ""
    assert column_cell(table, markdown, "SSL acc", "lfr", "conv1d", "50 %") == ""
    assert column_cell(table, markdown, "supervised acc", "barlow_twins", "conv1d", "1 %") == ""
    assert column_cell(table, markdown, "supervised acc", "barlow_twins", "conv1d", "50 %") == "0.480"  # no bold
    assert "0.000" not in markdown
    # Best per label fraction: at 50 % only barlow/conv1d (0.52) and barlow/gru (0.50) were evaluated.
    assert column_cell(table, markdown, "SSL acc", "barlow_twins", "conv1d", "50 %") == "**0.520**"


def test_markdown_is_identical_when_built_twice_from_the_store(store, sweeps):
    again = {s.name: s for s in resolve_sweeps(store.uri, ["lfr-har", "barlow-har"])}
    first = technique_by_backbone([sweeps["barlow-har"], sweeps["lfr-har"]]).to_markdown()
    assert technique_by_backbone([again["barlow-har"], again["lfr-har"]]).to_markdown() == first
    assert (
        ssl_vs_supervised([sweeps["barlow-har"]]).to_markdown()
        == ssl_vs_supervised([again["barlow-har"]]).to_markdown()
    )


def test_search_grid_puts_each_validation_mean_in_its_cell(sweeps):
    table = search_grid(sweeps["barlow-har"], ["backbone", "projector_dim"], ["lambda_offdiag"])
    frame = table.frame
    assert list(frame.index) == [("conv1d", "256"), ("conv1d", "512"), ("conv1d", "1024"), ("gru", "256")]
    assert list(frame.columns) == ["lambda_offdiag=0.001", "lambda_offdiag=0.005"]
    assert frame.loc[("conv1d", "1024"), "lambda_offdiag=0.001"] == pytest.approx(0.85)  # t1, r6, r7
    assert frame.loc[("conv1d", "512"), "lambda_offdiag=0.005"] == pytest.approx(0.80)
    assert frame.loc[("gru", "256"), "lambda_offdiag=0.005"] == pytest.approx(0.75)
    assert pd.isna(frame.loc[("gru", "256"), "lambda_offdiag=0.001"])  # pruned/failed runs never enter
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
    assert row_cells(classes.to_markdown(), "sand")[1:] == ["0.800", "0.500", "+30.0"]

    configurations = pretext_configurations(seismic)
    assert list(configurations.frame.index) == [("p0", "12"), ("p1", "16")]
    markdown = configurations.to_markdown()
    assert row_cells(markdown, "p0", "12")[2:] == ["0.600", "**0.700**"]  # the best validation
    assert row_cells(markdown, "p1", "16")[2:] == ["0.500", "0.650"]  # the lowest loss: not comparable, not bold
    assert "One run per cell." in configurations.caption


def test_one_row_never_compares_trials_selected_on_different_objectives(sweeps):
    knn = dataclasses.replace(sweeps["lfr-har"], name="lfr-har-knn", objective="val/knn/acc/frac_1.0")
    with pytest.raises(ReportError, match="lfr / conv1d: sweeps lfr-har, lfr-har-knn select on different objectives"):
        technique_by_backbone([sweeps["lfr-har"], knn])


def test_captions_say_which_sweeps_refitted_their_test_readouts(sweeps):
    """``evaluation.refit_on_validation`` is read from the search-space file the sweep logged."""
    barlow = sweeps["barlow-har"]
    assert barlow.search_space_text and "refit_on_validation" not in barlow.search_space_text
    assert "refit_on_validation" not in ssl_vs_supervised([barlow]).caption
    refitted = dataclasses.replace(
        barlow, search_space_text=barlow.search_space_text + "evaluation:\n  refit_on_validation: true\n"
    )
    assert (
        "Test readouts fitted on training + validation units after selection (evaluation.refit_on_validation; "
        "barlow-har)."
    ) in ssl_vs_supervised([refitted]).caption


@pytest.fixture(scope="module")
def knn_sweeps(tmp_path_factory) -> dict:
    """simclr-har: linear and kNN at 10 % and 100 %, 40 test series; byol-har: linear only, 24 test windows;
    moco-har: linear only, no count of test units recorded."""
    directory = tmp_path_factory.mktemp("knn")
    store = Store(f"sqlite:///{directory / 'mlflow.db'}", (directory / "artifacts").as_uri())
    knn(store, test_units=(40, "series"))
    knn(store, "byol", "byol-har", "byol", test_units=(24, "windows"), with_knn=False)
    knn(store, "moco", "moco-har", "moco", with_knn=False)
    return {sweep.name: sweep for sweep in resolve_sweeps(store.uri, ["simclr-har", "byol-har", "moco-har"])}


def test_knn_is_shown_beside_the_report_protocol_where_recorded(knn_sweeps):
    table = technique_by_backbone([knn_sweeps["simclr-har"], knn_sweeps["byol-har"]])
    assert [c for c in table.frame.columns if c.startswith("SSL ")] == [
        "SSL linear acc 10 %",
        "SSL kNN acc 10 %",
        "SSL linear acc 100 %",
        "SSL kNN acc 100 %",
    ]
    markdown = table.to_markdown()
    # Linear gains 10 points at 10 % of the labels; kNN loses 5 there: the headline shows both.
    assert column_cell(table, markdown, "gain linear acc 10 % (pts)", "simclr", "conv1d") == "+10.0"
    assert column_cell(table, markdown, "gain kNN acc 10 % (pts)", "simclr", "conv1d") == "-5.0"
    assert column_cell(table, markdown, "untrained kNN acc 10 %", "simclr", "gru") == "0.400"
    assert column_cell(table, markdown, "SSL kNN acc 10 %", "byol", "conv1d") == ""  # byol recorded no kNN
    assert "linear protocol and kNN where recorded" in table.caption
    assert bold_columns(table) == {c for c in table.frame.columns if c.startswith("SSL ")}
    # A sweep that recorded no kNN score gets no kNN column and no kNN in its caption.
    linear_only = technique_by_backbone([knn_sweeps["byol-har"]])
    assert not any("kNN" in column for column in linear_only.frame.columns) and "kNN" not in linear_only.caption
    assert list(linear_only.frame.columns)[:3] == [
        "SSL linear acc 10 %",
        "untrained linear acc 10 %",
        "gain linear acc 10 % (pts)",
    ]


def test_captions_name_supervised_baselines_only_where_one_finished(sweeps):
    """lfr-har ran no supervised baseline: neither its tables' captions nor columns name one; barlow-har's did."""
    for table in (technique_by_backbone([sweeps["lfr-har"]]), ssl_vs_supervised([sweeps["lfr-har"]])):
        assert "supervised" not in table.caption.lower(), table.caption
        assert not any("supervised" in column for column in table.frame.columns)
    with_baselines = [sweeps["barlow-har"], sweeps["lfr-har"]]
    assert "supervised: trained from scratch on the same labels" in technique_by_backbone(with_baselines).caption
    assert "trained supervised from scratch" in ssl_vs_supervised(with_baselines).caption


def test_captions_say_what_one_test_unit_is_worth_where_recorded(knn_sweeps, sweeps):
    simclr = technique_by_backbone([knn_sweeps["simclr-har"]]).caption
    assert "Test scores over 40 test series: one is 2.5 points of accuracy." in simclr
    assert "Test scores over 40 test series" in ssl_vs_supervised([knn_sweeps["simclr-har"]]).caption
    # Rows over other test sets: each text once; a sweep that recorded no count adds none.
    both = technique_by_backbone([knn_sweeps["simclr-har"], knn_sweeps["byol-har"], knn_sweeps["moco-har"]]).caption
    assert both.count("40 test series: one is 2.5 points of accuracy") == 1
    assert "24 test windows: one is 4.2 points of accuracy" in both
    for caption in (
        technique_by_backbone([knn_sweeps["moco-har"]]).caption,
        technique_by_backbone([sweeps["lfr-har"]]).caption,
    ):
        assert "test units" not in caption and "Test scores over" not in caption


# ------------------------------------------------------------------------------------------------ Markdown escaping


def test_markdown_text_leaves_no_markup_and_plain_names_as_they_are():
    assert markdown_text(HOSTILE) == r"&lt;img src=x onerror=alert(1)&gt;\|\[x\](javascript:alert(1))"
    assert markdown_text("a & b <script>x</script>\r\nc\nd") == "a &amp; b &lt;script&gt;x&lt;/script&gt; c d"
    assert markdown_text(r"*b* `c` \ _i_ __u__ [l]") == r"\*b\* \`c\` \\ \_i\_ \_\_u\_\_ \[l\]"
    # An underscore between letters or digits never starts emphasis: names stay readable.
    for plain in ("barlow_twins", "val/linear/acc/frac_0.1", "lambda_offdiag=0.001", "0.601 ± 0.018 (n=3)", "+4.2"):
        assert markdown_text(plain) == plain
    assert markdown_text(0.5) == "0.5"


def test_a_class_label_and_a_parameter_value_with_markup_stay_one_cell_in_markdown_and_escaped_once_in_html():
    index = pd.MultiIndex.from_tuples(
        [(HOSTILE_VALUE, "sand"), ("gru", f"<b>{HOSTILE}</b>")], names=["backbone", "class"]
    )
    frame = pd.DataFrame({"pretrained IoU": [0.8, 0.6], "gain | (pts)": [30.0, -5.0]}, index=index)
    table = Table(
        "per_class_iou",
        f"{HOSTILE}: test IoU per class",
        frame,
        counts=pd.DataFrame(1, index=index, columns=frame.columns),
        spread=pd.DataFrame(math.nan, index=index, columns=frame.columns),
        best=frame.eq(frame.max()),
        gain_columns=("gain | (pts)",),
    )
    markdown = table.to_markdown()
    assert "<img" not in markdown and "<b>" not in markdown and "](javascript" not in markdown.replace(r"\](", "")
    caption, blank, *rows = markdown.splitlines()
    assert caption.startswith("&lt;img src=x onerror=alert(1)&gt;\\|\\[x\\]") and blank == ""
    assert rows == [
        r"| backbone | class | pretrained IoU | gain \| (pts) |",
        "|---|---|---:|---:|",
        r"| &lt;img src=x onerror=alert(1)&gt;\|conv row | sand | **0.800** | **+30.0** |",
        r"| gru | &lt;b&gt;&lt;img src=x onerror=alert(1)&gt;\|\[x\](javascript:alert(1))&lt;/b&gt; "
        r"| 0.600 | -5.0 |",
    ]
    assert table.to_markdown(caption=False) == "\n".join(rows) + "\n"
    html = table.to_html()
    assert "<img" not in html and "<b>" not in html and "&amp;" not in html
    assert "<td>&lt;img src=x onerror=alert(1)&gt;|conv" in html and "<th>gain | (pts)</th>" in html
