"""Nightly sweeps: the regression check against a store whose scores we know, the nightly file's one-line
errors, and two real nights of one small sweep end to end."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from before_ray import fresh_or_in_process, run_fresh_in_turn, tune_cli  # noqa: F401  (tune_cli: a fixture)
from mlflow.tracking import MlflowClient
from report_store import HOSTILE, Store, scores
from sweeps import ROOT, sweep_file

from trainables.records.tags import NIGHTLY_TAG
from trainables.report.tables import text_table
from trainables.sweep.nightly import night_failed, regression_markdown_frame, regression_table
from trainables.tracking.runs import resolve_sweeps

OBJECTIVE = "val/linear/acc/frac_1.0"


def night(store: Store, key: str, sweep: str, date: str, objective: float | None, test: float, mode="max"):
    store.parent(key, sweep, "barlow_twins", OBJECTIVE, mode=mode)
    store.client.set_tag(store.ids[key], NIGHTLY_TAG, date)
    outcome = "finished" if objective is not None else "failed"
    store.child(
        f"{key}-t0",
        key,
        0,
        outcome,
        {"backbone": "conv1d"},
        {OBJECTIVE: objective, **scores("linear", {1.0: (test, test)})} if objective is not None else {},
    )
    return store.ids[key]


@pytest.fixture()
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri())


def test_each_sweep_is_compared_with_its_latest_earlier_night(store):
    night(store, "a-old", "steady", "2026-11-20", 0.50, 0.50)  # older than the previous night: ignored
    night(store, "a-prev", "steady", "2026-11-22", 0.80, 0.70)
    a = night(store, "a-now", "steady", "2026-11-23", 0.79, 0.69)  # within the tolerance: ok
    night(store, "b-prev", "slipping", "2026-11-22", 0.80, 0.70)
    b = night(store, "b-now", "slipping", "2026-11-23", 0.80, 0.60)  # test 10 points down: regressed
    c = night(store, "c-now", "brand-new", "2026-11-23", 0.60, 0.60)  # no earlier night
    night(store, "d-later", "steady", "2026-11-24", 0.10, 0.10)  # a later night never counts
    tonight = {sweep.name: sweep for sweep in resolve_sweeps(store.uri, [a, b, c])}
    table = regression_table(store.uri, {**tonight, "broken": None}, "2026-11-23", tolerance=0.02)
    verdicts = {(row.sweep, row.score.split(" ")[0]): row.verdict for row in table.itertuples()}
    assert verdicts == {
        ("steady", "validation"): "ok",
        ("steady", "test"): "ok",
        ("slipping", "validation"): "ok",
        ("slipping", "test"): "regressed",
        ("brand-new", "validation"): "new",
        ("brand-new", "test"): "new",
        ("broken", ""): "failed",
    }
    steady = table[(table["sweep"] == "steady") & table["score"].str.startswith("test")].iloc[0]
    assert (steady["previous night"], steady["previous"], steady["tonight"]) == ("2026-11-22", 0.70, 0.69)
    assert steady["change"] == pytest.approx(-0.01)
    assert night_failed(table)
    assert not night_failed(table[table["sweep"] == "steady"])


def test_a_night_without_a_finished_trial_is_skipped_for_the_one_before(store):
    night(store, "ok", "flaky", "2026-11-21", 0.80, 0.70)
    night(store, "broken", "flaky", "2026-11-22", None, 0.0)
    now = night(store, "now", "flaky", "2026-11-23", 0.80, 0.50)
    table = regression_table(store.uri, {"flaky": resolve_sweeps(store.uri, [now])[0]}, "2026-11-23", 0.02)
    assert set(table["previous night"]) == {"2026-11-21"}
    assert table.set_index(table["score"].str.split(" ").str[0])["verdict"].to_dict() == {
        "validation": "ok",
        "test": "regressed",
    }


def test_a_minimised_objective_regresses_when_it_rises(store):
    night(store, "prev", "loss-sweep", "2026-11-22", 0.30, 0.70, mode="min")
    now = night(store, "now", "loss-sweep", "2026-11-23", 0.40, 0.70, mode="min")
    table = regression_table(store.uri, {"loss-sweep": resolve_sweeps(store.uri, [now])[0]}, "2026-11-23", 0.05)
    assert table.set_index(table["score"].str.split(" ").str[0])["verdict"].to_dict() == {
        "validation": "regressed",
        "test": "ok",
    }


def test_the_regression_table_in_markdown_keeps_a_sweep_name_with_markup_as_text(store):
    """What ``tune.py nightly`` prints and puts first in the night's report.md and tables/regression.md."""
    night(store, "prev", HOSTILE, "2026-11-22", 0.80, 0.70)
    now = night(store, "now", HOSTILE, "2026-11-23", 0.80, 0.60)
    table = regression_table(
        store.uri, {HOSTILE: resolve_sweeps(store.uri, [now])[0], "broken\n<b>x</b>": None}, "2026-11-23", 0.02
    )
    markdown = text_table(regression_markdown_frame(table), "regression", f"Night of {HOSTILE}.").to_markdown()
    assert "<img" not in markdown and "<b>" not in markdown and "\\[x\\](javascript" in markdown
    caption, blank, header, rule, *rows = markdown.splitlines()
    assert len(rows) == 3 and rows[0].startswith(r"| &lt;img src=x onerror=alert(1)&gt;\|\[x\](javascript:alert(1)) |")
    assert rows[2].startswith("| broken &lt;b&gt;x&lt;/b&gt; |") and rows[1].endswith("| regressed |")
    assert {line.replace("\\|", "").count("|") for line in (header, rule, *rows)} == {8}


def _nightly_environment(tmp_path) -> dict[str, str | None]:
    return {
        "SSLSWEEP_HOME": str(tmp_path / "home"),
        "SSLSWEEP_REPORTS_DIR": str(tmp_path / "reports"),
        "MLFLOW_TRACKING_URI": None,
        "RAY_ADDRESS": None,
    }


@pytest.mark.parametrize(
    "content, message, fresh_process",
    [
        ({"sweeps": ["missing.yaml"]}, "sweeps: no such search-space file missing.yaml", False),
        ({"sweeps": []}, "sweeps: List should have at least 1 item", False),
        ({"sweeps": ["small.yaml"], "tolerance": -1}, "tolerance: Input should be greater than or equal to 0", False),
        ({"sweeps": ["small.yaml"], "when": "nightly"}, "when: Extra inputs are not permitted", False),
        ({"sweeps": ["small.yaml", "small.yaml"]}, "two files share a sweep name", False),
        ({"sweeps": ["bad.yaml"]}, "budget.trials: Input should be greater than or equal to 1", True),
    ],
)
def test_a_bad_nightly_file_is_one_line_and_exit_2_before_ray(tmp_path, tune_cli, content, message, fresh_process):
    """The case that reads a sweep file through a fresh ``python tune.py nightly``, the others in-process
    (before_ray.py)."""
    sweep_file(tmp_path, "small")
    bad = yaml.safe_load((tmp_path / "small.yaml").read_text())
    bad["budget"]["trials"] = 0
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    (tmp_path / "nightly.yaml").write_text(yaml.safe_dump(content))
    argv = ["nightly", tmp_path / "nightly.yaml"]
    run = fresh_or_in_process(tune_cli, argv, _nightly_environment(tmp_path), fresh_process=fresh_process)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.startswith("error: ") and message in run.stderr and run.stderr.count("\n") == 1, run.stderr
    assert not (tmp_path / "home" / "mlflow.db").exists()


def test_a_bad_date_is_refused(tmp_path, tune_cli):
    (tmp_path / "nightly.yaml").write_text(yaml.safe_dump({"sweeps": ["x.yaml"]}))
    run = tune_cli("nightly", tmp_path / "nightly.yaml", "--date", "tonight", env=_nightly_environment(tmp_path))
    assert run.returncode == 2 and run.stderr == "error: --date 'tonight': not a date (YYYY-MM-DD)\n"


@pytest.mark.slow
def test_two_nights_of_a_small_sweep_across_methods_compare_and_report(tmp_path):
    sweep_file(
        tmp_path,
        "nightly-small",
        method=None,
        methods={
            "barlow_twins": {"search": {"lambda_offdiag": {"type": "float", "low": 0.001, "high": 0.01, "log": True}}},
            "vicreg": {"fixed": {"cov_coeff": 2.0}},
        },
        search={"backbone": {"type": "categorical", "choices": ["conv1d", "gru"]}},
        budget={"trials": 2, "epochs": 2, "max_concurrent": 2},
        scheduler={"type": "fifo"},
    )
    (tmp_path / "nightly.yaml").write_text(yaml.safe_dump({"sweeps": ["nightly-small.yaml"], "tolerance": 0.0}))
    first, second = run_fresh_in_turn(  # two nights, one driver process (its imports and Ray's start paid once)
        [["nightly", tmp_path / "nightly.yaml", "--date", night] for night in ("2026-11-22", "2026-11-23")],
        _nightly_environment(tmp_path),
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "| nightly-small | validation " in first.stdout and "| new |" in first.stdout
    # Same seed, same data, same configurations: the same scores, so nothing regressed even at tolerance 0.
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    table = pd.read_csv(tmp_path / "reports" / "nightly-2026-11-23" / "tables" / "regression.csv")
    assert set(table["verdict"]) == {"ok"} and set(table["previous night"]) == {"2026-11-22"}
    assert len(table) == 2 and (table["previous"] == table["tonight"]).all()
    client = MlflowClient(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
    parents = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.`sslsweep.role` = 'sweep'"
    )
    assert sorted(run.data.tags[NIGHTLY_TAG] for run in parents) == ["2026-11-22", "2026-11-23"]
    assert {run.data.tags["sslsweep.method"] for run in parents} == {"barlow_twins, vicreg"}
    reports = client.search_runs([client.get_experiment_by_name("sslsweep/reports").experiment_id])
    assert {run.info.run_name for run in reports} == {"nightly-2026-11-22", "nightly-2026-11-23"}


def test_the_shipped_nightly_file_names_shipped_sweeps_that_validate():
    from trainables.searchspace import load_sweep
    from trainables.sweep.nightly import load_nightly

    plan = load_nightly(ROOT / "schedules" / "nightly.yaml")
    names = [load_sweep(path).name for path in plan.sweep_files]
    assert len(names) == len(set(names)) >= 2 and plan.spec.tolerance > 0
