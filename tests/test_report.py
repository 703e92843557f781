"""Reports over several sweeps, built from a real sqlite MLflow store (tests/report_store.py) with the artifacts
a sweep leaves (embeddings, an example section, an Optuna study): the files, the run of its own, determinism,
the HTML page in a real browser, and the command's one-line errors."""

from __future__ import annotations

import filecmp
import os
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np
import optuna
import pandas as pd
import pytest
from before_ray import fresh_or_in_process, run_fresh, tune_cli  # noqa: F401  (tune_cli: a fixture)
from browser import CHROMIUM
from mlflow.tracking import MlflowClient
from report_store import HOSTILE, HOSTILE_VALUE, Store, filled_store, hostile
from servers import mlflow_server

from trainables.records.selection import best_first
from trainables.records.tags import (
    NIGHTLY_TAG,
    OPTUNA_STUDY_TAG,
    REPORT_PARENT_RUNS_TAG,
    REPORT_SWEEPS_TAG,
    TRIAL_INDEX_TAG,
)
from trainables.report import builder as report_module
from trainables.report.builder import ReportOptions, report_sweeps
from trainables.report.document import Report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEPS = ["barlow-har", "lfr-har", "cpc-har", "lfr-seismic"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The report store (barlow-har's trials with their count of test series), with t1's embeddings, p0's example
    section and barlow-har's Optuna study."""
    directory = tmp_path_factory.mktemp("report")
    store = filled_store(directory, test_units=True)
    client = MlflowClient(store.uri)
    rng = np.random.default_rng(0)
    rows = [
        {
            "split": split,
            "label": ["walk", "run", "stand"][i % 3],
            "unit": i,
            **{f"f{j}": float(v) for j, v in enumerate(rng.normal(i % 3, 0.3, 6))},
        }
        for split, count in (("train", 24), ("validation", 6), ("test", 12))
        for i in range(count)
    ]
    pd.DataFrame(rows).to_parquet(directory / "embeddings.parquet", index=False)
    client.log_artifact(store.ids["t1"], str(directory / "embeddings.parquet"), "embeddings")
    truth = np.repeat(np.arange(3), 8)[:, None].repeat(16, axis=1)
    np.savez_compressed(
        directory / "segmentation_example.npz",
        section=rng.normal(size=truth.shape).astype("float32"),
        truth=truth,
        prediction=np.roll(truth, 1, axis=0),
        class_names=np.array(["sand", "shale", "salt"]),
    )
    client.log_artifact(store.ids["p0"], str(directory / "segmentation_example.npz"), "examples")
    storage = f"sqlite:///{directory / 'optuna.db'}"
    study = optuna.create_study(
        study_name="barlow-har-study",
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.optimize(
        lambda trial: (
            trial.suggest_float("lambda_offdiag", 0.001, 0.01, log=True)
            + trial.suggest_categorical("projector_dim", [256, 512]) / 1000
        ),
        n_trials=6,
    )
    client.set_tag(store.ids["barlow"], OPTUNA_STUDY_TAG, "barlow-har-study")
    store.optuna = storage
    return store


def build(store, directory, *, sweeps=SWEEPS, name="four", tracking_uri=None):
    return report_sweeps(
        tracking_uri or store.uri,
        sweeps,
        directory,
        name=name,
        options=ReportOptions(optuna_storage=store.optuna),
        artifact_root=store.artifacts,
    )


class BuiltReport(NamedTuple):
    """A report ``build`` wrote: the report, its MLflow run's id, and the directory it was built in."""

    report: Report
    run_id: str
    directory: Path


@pytest.fixture(scope="module")
def four_sweeps(store, tmp_path_factory) -> BuiltReport:
    """The report over the four sweeps, built once for the tests that only read it."""
    directory = tmp_path_factory.mktemp("built")
    return BuiltReport(*build(store, directory), directory)


def test_a_report_over_four_sweeps_writes_every_table_and_figure_and_logs_a_run_of_its_own(store, four_sweeps):
    report, run_id, directory = four_sweeps
    assert report.directory == directory / "four"
    # Classification and segmentation sweeps: Tables 3 and 4 once per task.
    assert {
        "sweeps",
        "technique_by_backbone_classification",
        "ssl_vs_supervised_classification",
        "technique_by_backbone_segmentation",
        "ssl_vs_supervised_segmentation",
        "barlow-har_search_grid",
        "lfr-har_configurations",
        "segmentation_by_fraction",
        "lfr-seismic_per_class_iou",
    } <= {path.stem for path in (report.directory / "tables").glob("*.csv")}
    assert {"technique_by_backbone_segmentation", "barlow-har_search_grid", "segmentation_by_fraction"} <= set(
        report.tables
    )
    segmentation = report.tables["technique_by_backbone_segmentation"].frame
    assert list(segmentation.index) == [("lfr", "resnet50")] and "SSL acc" not in segmentation
    figures = set(report.figures)
    assert {
        "label_fraction_classification_aeon_BasicMotions",
        "barlow-har_search_grid",
        "training_curves",
        "tsne_barlow_twins_conv1d",
        "segmentation_lfr_resnet50",
        "lfr-seismic_by_num_projectors",
        "barlow-har_optuna_optimization_history",
        "barlow-har_optuna_param_importances",
    } <= figures
    for figure in report.figures.values():
        assert figure.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.svg.read_text().startswith("<?xml")
    # What could not be drawn is said: the other selections recorded no embeddings, lfr-seismic no study.
    assert any("barlow_twins / gru" in note and "no t-SNE" in note for note in report.notes)
    assert any(note.startswith("lfr-seismic: no Optuna views") for note in report.notes)
    markdown = (report.directory / "report.md").read_text()
    assert "## Notes" in markdown and "![tsne_barlow_twins_conv1d](figures/tsne_barlow_twins_conv1d.png)" in markdown
    # The verdict first: per sweep, the trial validation selected, its headline test score beside untrained, at
    # the fewest labels it was tested with (t1 alone tested 1 %: no repeat, no supervised baseline there).
    verdict = markdown.split("## Verdict", 1)[1].split("## ", 1)[0]
    assert markdown.index("## Verdict") < markdown.index("## Sweeps")
    assert (
        "barlow-har: selected t1 (barlow_twins / conv1d) on validation cv/linear/f1/frac_0.1 = 0.8500; test linear "
        "acc at 1 % labels 0.350 against 0.250 untrained (+10.0 points)" in verdict
    ), verdict
    # The headline table's caption says what one test series is worth; the importances from 6 trials are a hint.
    assert "Test scores over 40 test series: one is 2.5 points of accuracy." in markdown
    assert "Importances from 6 finished trials are unreliable (fANOVA needs tens of trials)" in markdown
    assert "cpc-har: selected c1 (cpc / conv1d) on validation train/loss = 0.3000;" in verdict
    assert len([line for line in verdict.splitlines() if line.strip()]) == 4  # one line per sweep
    # The run of its own: tagged with the sweeps it covers, holding every file of the directory.
    client = MlflowClient(store.uri)
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == "sslsweep/reports"
    assert run.data.tags[REPORT_SWEEPS_TAG] == "barlow-har,cpc-har,lfr-har,lfr-seismic"
    assert set(run.data.tags[REPORT_PARENT_RUNS_TAG].split(",")) == {
        store.ids[key] for key in ("barlow", "cpc", "lfr", "seismic")
    }
    logged = {
        a.path
        for folder in ("", "tables", "figures")
        for a in client.list_artifacts(run_id, folder or None)
        if not a.is_dir
    }
    written = {str(path.relative_to(report.directory)) for path in report.directory.rglob("*") if path.is_file()}
    assert logged == written


def test_a_report_built_twice_from_the_same_store_is_identical(store, four_sweeps, tmp_path):
    first = four_sweeps.report
    second, _ = build(store, tmp_path)
    files = sorted(str(p.relative_to(first.directory)) for p in first.directory.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(second.directory)) for p in second.directory.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(first.directory, second.directory, files, shallow=False)
    assert (mismatch, errors) == ([], []) and len(match) > 30


def test_rebuilding_replaces_the_directory_and_never_overwrites_something_else(store, tmp_path):
    report, _ = build(store, tmp_path)
    (report.directory / "figures" / "stale.png").write_bytes(b"old")
    build(store, tmp_path)
    assert not (report.directory / "figures" / "stale.png").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="holds no report"):
        build(store, tmp_path, sweeps=["cpc-har"], name="mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)")
def test_the_html_page_opens_in_headless_chromium_with_every_image_loaded(four_sweeps, tmp_path):
    report = four_sweeps.report
    page = (report.directory / "index.html").read_text()
    images = len(re.findall(r"<img ", page))
    assert images == len(report.figures) and "http" not in page  # self-contained: nothing from the network
    # The page has no script of its own; a copy gets one that records, after load, how many images decoded.
    probe = tmp_path / "probe.html"
    probe.write_text(
        page.replace(
            "</body>",
            "<script>window.addEventListener('load', () => { const loaded = "
            "[...document.images].filter(i => i.complete && i.naturalWidth > 0).length; "
            "document.body.dataset.loaded = loaded + '/' + document.images.length; });"
            "</script></body>",
        )
    )
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    loaded = re.search(r'data-loaded="(\d+)/(\d+)"', dom.stdout)
    assert loaded is not None, dom.stderr[-2000:]
    assert loaded.groups() == (str(images), str(images))
    assert "<table" in dom.stdout and "Techniques and backbones" in dom.stdout


def _report_environment(store, tmp_path) -> dict[str, str]:
    return {
        "MLFLOW_TRACKING_URI": store.uri,
        "SSLSWEEP_HOME": str(tmp_path / "home"),
        "SSLSWEEP_REPORTS_DIR": str(tmp_path / "reports"),
        "SSLSWEEP_OPTUNA_STORAGE": store.optuna,
    }


def tune_report(store, tmp_path, *args):
    return run_fresh(["report", *args], _report_environment(store, tmp_path))


@pytest.mark.parametrize(
    "args, message, fresh_process",
    [
        (["no-such-sweep"], "error: no sweep matches 'no-such-sweep'; sweeps in ", False),
        (["empty-sweep"], "error: no finished trial to select from in sweep 'empty-sweep'", False),
        (["barlow-har", "--grid", "backbone/lamda"], "error: no sweep recorded parameter(s) lamda; recorded: ", True),
        (["--nightly", "23-11-2026"], "error: --nightly '23-11-2026': not a date (YYYY-MM-DD)", False),
        (["--nightly", "2026-11-22"], "error: no sweep matches \"tags.sslsweep.nightly = '2026-11-22'\"", False),
    ],
)
def test_the_report_command_refuses_what_it_cannot_report_in_one_line_with_exit_2(
    store, tmp_path, tune_cli, args, message, fresh_process
):
    """The case that reads the sweep's runs and parameters through a fresh ``python tune.py report``, the others
    in-process (before_ray.py)."""
    env = _report_environment(store, tmp_path)
    run = fresh_or_in_process(tune_cli, ["report", *args], env, fresh_process=fresh_process)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.startswith(message) and run.stderr.count("\n") == 1, run.stderr
    assert not (tmp_path / "reports").exists()


def test_the_report_command_reports_a_nightly_group(store, tmp_path):
    client = MlflowClient(store.uri)
    for key in ("lfr", "cpc"):
        client.set_tag(store.ids[key], NIGHTLY_TAG, "2026-11-23")
    run = tune_report(store, tmp_path, "--nightly", "2026-11-23")
    assert run.returncode == 0, run.stdout + run.stderr
    sweeps = pd.read_csv(tmp_path / "reports" / "nightly-2026-11-23" / "tables" / "sweeps.csv")
    assert sweeps["sweep"].tolist() == ["cpc-har", "lfr-har"]
    assert "| lfr | conv1d | **0.701** |" in run.stdout  # the technique x backbone table, printed
    assert "report     " in run.stdout and "index.html" in run.stdout


def test_a_report_is_rebuilt_through_a_remote_tracking_server(store, tmp_path, monkeypatch):
    """The same report read over MLflow's REST API (an ``mlflow server`` on the store) as from the database; the
    training curves' histories in bulk requests, never one request per run and metric."""
    from mlflow.store.tracking.rest_store import RestStore

    local, _ = build(store, tmp_path / "local", sweeps=["barlow-har", "lfr-seismic"], name="r")

    def per_run(*args, **kwargs):
        raise AssertionError("a metric history read per run through the server")

    monkeypatch.setattr(RestStore, "get_metric_history", per_run)
    with mlflow_server(tmp_path / "server", store.uri) as uri:
        remote, run_id = build(
            store, tmp_path / "remote", sweeps=["barlow-har", "lfr-seismic"], name="r", tracking_uri=uri
        )
    files = sorted(str(p.relative_to(local.directory)) for p in local.directory.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(local.directory, remote.directory, files, shallow=False)
    assert (mismatch, errors) == ([], []) and "figures/tsne_barlow_twins_conv1d.png" in match
    assert MlflowClient(store.uri).get_run(run_id).data.tags[REPORT_SWEEPS_TAG] == "barlow-har,lfr-seismic"


def test_a_sweep_whose_report_fails_keeps_its_result_and_says_how_to_rebuild_it(store, tmp_path, monkeypatch, capsys):
    def broken(self):
        raise RuntimeError("a figure broke")

    monkeypatch.setattr(report_module._Builder, "sections", broken)
    sweep, report = report_module.write_sweep_report(store.uri, store.ids["cpc"], tmp_path / "reports")
    assert sweep.name == "cpc-har" and report is None
    assert f"python tune.py report {store.ids['cpc']}" in capsys.readouterr().err
    assert list((tmp_path / "reports").iterdir()) == []  # no half-written report directory


LIVE_LINK = re.compile(r"(?<!\\)\]\(javascript")  # a link's end, unless its bracket is escaped


def unescaped_pipes(line: str) -> int:
    """The ``|`` of a Markdown line that delimit cells (not ``\\|``): a table row's column count + 1."""
    count, escaped = 0, False
    for char in line:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            count += 1
    return count


def markdown_tables(text: str) -> list[list[str]]:
    """Each run of consecutive lines starting with ``|``."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_markup_in_a_sweep_name_parameter_values_and_trial_ids_stays_text_wherever_markdown_is_written(tmp_path):
    """Raw HTML, a javascript: link, a ``|`` and a line break in what a sweep records: text in report.md, every
    tables/*.md and the report run's note (Markdown in MLflow's UI), each table keeping its columns; the HTML page
    escapes the same text once."""
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri())
    report, run_id = report_sweeps(store.uri, [hostile(store)], tmp_path / "reports", artifact_root=store.artifacts)
    shown = "&lt;img src=x onerror=alert(1)&gt;"
    files = [report.directory / "report.md", *sorted((report.directory / "tables").glob("*.md"))]
    stems = {path.stem for path in files}
    assert {"report", "sweeps", "technique_by_backbone", "ssl_vs_supervised"} <= stems and len(stems) == 6
    assert {"search_grid", "configurations"} <= {stem.rsplit("__", 1)[-1] for stem in stems}
    for path in files:
        text = path.read_text()
        assert "<img" not in text and "<b>" not in text and not LIVE_LINK.search(text), path.name
        assert shown in text, path.name
        tables = markdown_tables(text)
        assert tables, path.name
        for table in tables:
            assert len({unescaped_pipes(line) for line in table}) == 1, (path.name, table)
    # One row per selection in Table 3: the line break inside the backbone value split none.
    technique = (report.directory / "tables" / "technique_by_backbone.md").read_text()
    assert len(markdown_tables(technique)[0]) == 2 + len(report.tables["technique_by_backbone"].frame)
    assert f"| simclr | {shown}\\|conv row |" in technique
    markdown = (report.directory / "report.md").read_text()
    assert f"## Sweep {shown}\\|\\[x\\](javascript:alert(1))" in markdown
    note = MlflowClient(store.uri).get_run(run_id).data.tags["mlflow.note.content"]
    assert "<img" not in note and not LIVE_LINK.search(note) and note.startswith(f"sslsweep report {shown}")
    page = (report.directory / "index.html").read_text()
    assert "<img src=x" not in page and "&amp;lt;" not in page and "<b>" not in page
    assert page.count(f"{shown}|[x](javascript:alert(1))") >= 3  # title, section, captions: escaped once
    assert f"<td>{shown}|conv" in page  # a table cell (pandas writes the line break as \\n)
    # The report keeps the text itself: escaping belongs to the output.
    assert HOSTILE in report.title and HOSTILE_VALUE in report.tables["technique_by_backbone"].frame.index[0]


def test_best_first_orders_by_objective_then_creation_for_min_and_missing_values():
    runs = pd.DataFrame(
        {
            "metrics.loss": [0.3, 0.1, None, 0.1],
            f"tags.{TRIAL_INDEX_TAG}": ["4", "3", "1", "2"],
            "run_id": ["a", "b", "c", "d"],
        }
    )
    assert list(best_first(runs, "metrics.loss", "min")["run_id"]) == ["d", "b", "a", "c"]
    assert list(best_first(runs, "metrics.loss", "max")["run_id"]) == ["a", "d", "b", "c"]
    # Optuna's trial number decides a tie first (as in Tune's and Optuna's ranked_objective), creation after it:
    # a crash retried under a later number, or a point handed out again on --resume, was created in another order.
    numbered = runs.assign(**{"tags.sslsweep.trial_number": ["3", "2", "0", "5"]})
    assert list(best_first(numbered, "metrics.loss", "min")["run_id"]) == ["b", "d", "a", "c"]
