"""Search-space files: the shipped ones validate; each kind of bad file fails before Ray starts with exit
code 2 and one line naming the file, the field and what was expected."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import tune
from selfsup.config import SearchSpaceError, load_sweep

ROOT = Path(__file__).resolve().parents[1]
# nightly.yaml is a list of sweeps, not a sweep (tests/test_nightly.py checks it).
SHIPPED = sorted(p for p in (ROOT / "searchspaces").glob("*.yaml") if p.name != "nightly.yaml")


def base_spec() -> dict:
    return yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text())


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_searchspaces_validate_and_dry_run(path, capsys):
    spec = load_sweep(path)
    assert spec.search, "a shipped sweep searches something"
    assert tune.main([str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert spec.name in out and spec.objective.metric in out
    for key in spec.search:
        assert key in out
    # A method with heads of its own lists no projector settings (they would change nothing).
    from selfsup.methods import METHODS
    assert ("projector_dim" in out) == METHODS.get(spec.method).uses_projector


def test_cv_objective_validates_at_any_label_fraction(tmp_path):
    path = tmp_path / "cv.yaml"
    path.write_text(yaml.safe_dump(_set(base_spec(), "objective.metric", "cv/linear/f1/frac_0.1")))
    spec = load_sweep(path)
    assert spec.objective.metric == "cv/linear/f1/frac_0.1" and 0.1 not in spec.evaluation.label_fractions


def test_sampler_short_and_long_forms(tmp_path, monkeypatch):
    from trainables.stores import resolve_stores
    from trainables.sweep import _searcher

    monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path))
    path = tmp_path / "sampler.yaml"
    path.write_text(yaml.safe_dump({**base_spec(), "sampler": {"type": "tpe", "startup_trials": 3}}))
    spec = load_sweep(path)
    searcher = _searcher(spec, resolve_stores(), "study")
    assert searcher._sampler._n_startup_trials == 3  # what Optuna's TPE is given, not just what we parsed
    path.write_text(yaml.safe_dump({**base_spec(), "sampler": "random"}))
    assert load_sweep(path).sampler.type == "random"


def test_supervised_baseline_of_the_supervised_method_is_refused(tmp_path, capsys):
    raw = yaml.safe_load((ROOT / "searchspaces" / "supervised.yaml").read_text())
    raw["evaluation"]["supervised_baseline"] = True
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert tune.main([str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "supervised_baseline" in err and "'supervised' already trains on labels" in err and err.count("\n") == 1


def test_barlow_has_the_reference_grid():
    spec = load_sweep(ROOT / "searchspaces" / "barlow.yaml")
    assert spec.search["backbone"].choices == ["conv1d", "gru"]
    assert spec.search["projector_dim"].choices == [256, 512, 1024]
    lam = spec.search["lambda_offdiag"]
    assert (lam.low, lam.high, lam.log) == (0.001, 0.01, True)


def _set(spec: dict, dotted: str, value):
    node = spec
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return spec


_DELETE = object()

BAD_FILES = [
    # (id, edit, words the one-line message must contain)
    ("unknown top-level key", ("epochz", 3), ["epochz", "unknown key", "budget"]),
    ("unknown nested key", ("budget.trails", 3), ["budget.trails", "unknown key", "trials"]),
    ("unknown method", ("method", "barlow_twinz"), ["method", "barlow_twinz", "barlow_twins"]),
    ("unknown backbone choice", ("search.backbone.choices", ["conv1d", "resnet9000"]),
     ["search.backbone", "resnet9000", "conv1d"]),
    ("unknown aeon dataset", ("data.downstream.name", "NoSuchSet"), ["data.downstream", "NoSuchSet", "BasicMotions"]),
    ("wrong type", ("budget.trials", "many"), ["budget.trials", "integer", "many"]),
    ("empty choices", ("search.projector_dim.choices", []), ["search.projector_dim", "choices"]),
    ("low above high", ("search.lr.low", 0.1), ["search.lr", "low must be < high"]),
    ("log range not positive", ("search.lambda_offdiag.low", 0.0), ["search.lambda_offdiag", "log range", "low > 0"]),
    ("label fraction above 1", ("evaluation.label_fractions", [0.5, 1.5]), ["evaluation.label_fractions", "1.5", "(0, 1]"]),
    ("label fraction zero", ("evaluation.label_fractions", [0.0, 1.0]), ["evaluation.label_fractions", "(0, 1]"]),
    ("objective no protocol produces", ("objective.metric", "val/svm/acc/frac_1.0"), ["objective.metric", "val/svm", "produced by no protocol"]),
    ("objective protocol not run", ("evaluation.protocols", ["knn"]), ["objective.metric", "linear", "protocols"]),
    ("objective fraction not evaluated", ("objective.metric", "val/knn/acc/frac_0.25"), ["objective.metric", "0.25", "label_fractions"]),
    ("objective on test data", ("objective.metric", "test/knn/acc/frac_1.0"), ["objective.metric", "test data only reports"]),
    ("cv objective of the untrained backbone", ("objective.metric", "random_init/cv/linear/acc/frac_1.0"),
     ["objective.metric", "produced by no protocol", "cv/"]),
    ("cv folds below two", ("evaluation.cv_folds", 1), ["evaluation.cv_folds", "greater than or equal to 2"]),
    ("in-trial execution with two workers", ("resources", {"workers": 2, "execution": "in_trial"}),
     ["resources", "in_trial", "ray_train"]),
    ("unknown sampler", ("sampler", "cmaes"), ["sampler", "cmaes", "tpe", "random"]),
    ("start-up trials for random search", ("sampler", {"type": "random", "startup_trials": 3}),
     ["sampler", "startup_trials", "tpe"]),
    ("unknown hyperparameter", ("fixed.lamda", 0.1), ["lamda", "unknown hyperparameter", "lambda_offdiag"]),
    ("hyperparameter of another method", ("fixed.sim_coeff", 25.0), ["sim_coeff", "barlow_twins"]),
    ("searched and fixed", ("fixed.lr", 0.001), ["lr", "both searched and fixed"]),
    ("projector of a method without one", ("method", "tnc"), ["projector_dim", "tnc has no shared projector"]),
    ("invalid hyperparameter bound", ("search.batch_size.choices", [1, 64]), ["search.batch_size", "batch_size", "2"]),
    ("missing method", ("method", _DELETE), ["method", "required"]),
    ("overlap out of range", ("data.window.overlap", 1.0), ["data.window.overlap", "less than 1"]),
    ("csv without path", ("data.pretext", {"source": "csv"}), ["data.pretext", "path"]),
    ("unknown data source", ("data.pretext.source", "parquet"), ["data.pretext.source", "parquet", "ucr_files"]),
]


@pytest.mark.parametrize("case_id,edit,words", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_searchspace_is_refused_with_a_clear_line(tmp_path, capsys, case_id, edit, words):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_set(base_spec(), *edit)))
    assert tune.main([str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, f"expected one line, got: {err}"
    assert err.startswith(f"error: {path}:")
    for word in words:
        assert word in err, f"{word!r} missing from: {err}"


@pytest.mark.parametrize("text,words", [
    ("name: x\nmethod: [unclosed\n", ["malformed YAML", "line"]),
    ("- just\n- a list\n", ["expected a mapping", "list"]),
])
def test_malformed_yaml(tmp_path, text, words):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(SearchSpaceError) as info:
        load_sweep(path)
    for word in words + [str(path)]:
        assert word in str(info.value)


def test_missing_file(tmp_path, capsys):
    assert tune.main([str(tmp_path / "nope.yaml"), "--dry-run"]) == 2
    assert "no such search-space file" in capsys.readouterr().err


def test_missing_data_directory_fails_before_ray(tmp_path, capsys):
    spec = _set(base_spec(), "data.downstream", {"source": "csv", "path": str(tmp_path / "missing")})
    spec = _set(spec, "data.pretext", {"source": "csv", "path": str(tmp_path / "missing")})
    path = tmp_path / "csv.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert tune.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "train.csv" in err and str(tmp_path / "missing") in err


def test_channel_mismatch_fails_before_ray(tmp_path, capsys):
    spec = _set(base_spec(), "data.pretext", {"source": "aeon", "name": "GunPoint"})
    path = tmp_path / "mismatch.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert tune.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "GunPoint" in err and "BasicMotions" in err and "channels" in err


def test_cli_exit_code_and_help_from_a_fresh_process(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_set(base_spec(), "method", "nope")))
    run = subprocess.run([sys.executable, "tune.py", str(bad), "--dry-run"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "unknown method 'nope'" in run.stderr
    helped = subprocess.run([sys.executable, "tune.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert helped.returncode == 0 and "--dry-run" in helped.stdout


def test_stores_are_absolute_and_reports_survive_a_ray_job(tmp_path, monkeypatch):
    from trainables.stores import resolve_stores

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SSLSWEEP_HOME", "relative-home")
    for name in ("MLFLOW_TRACKING_URI", "SSLSWEEP_REPORTS_DIR", "RAY_JOB_CONFIG_JSON_ENV_VAR"):
        monkeypatch.delenv(name, raising=False)
    stores = resolve_stores()
    assert stores.home == tmp_path / "relative-home" and stores.home.is_absolute()
    assert stores.mlflow_uri == f"sqlite:///{tmp_path / 'relative-home' / 'mlflow.db'}"
    assert stores.reports_dir == ROOT / "reports"
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", '{"runtime_env": {"working_dir": "gcs://_ray_pkg_x.zip"}}')
    assert resolve_stores().reports_dir == stores.home / "reports"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert resolve_stores().mlflow_uri == "http://mlflow:5000"


def test_a_grid_needs_finite_dimensions_and_exactly_its_size_in_trials():
    from selfsup.config import SweepSpec

    def spec(search, trials):
        return {"name": "g", "method": "barlow_twins", "sampler": "grid", "budget": {"trials": trials},
                "data": {"pretext": {"source": "aeon", "name": "BasicMotions"},
                         "downstream": {"source": "aeon", "name": "BasicMotions"}}, "search": search}

    grid = {"projector_dim": {"type": "categorical", "choices": [256, 512, 1024]},
            "lambda_offdiag": {"type": "float", "low": 0.001, "high": 0.005, "step": 0.002},
            "batch_size": {"type": "int", "low": 32, "high": 64, "step": 32}}
    accepted = SweepSpec.model_validate(spec(grid, 18))
    assert accepted.grid() == {"projector_dim": [256, 512, 1024], "lambda_offdiag": [0.001, 0.003, 0.005],
                               "batch_size": [32, 64]}
    with pytest.raises(ValueError, match=r"sampler grid: the grid has 18 points \(3 projector_dim x 3 "
                                         r"lambda_offdiag x 2 batch_size\), but budget.trials is 8; set "
                                         r"budget.trials: 18"):
        SweepSpec.model_validate(spec(grid, 8))
    with pytest.raises(ValueError, match=r"search.lr: a grid needs a finite set of values, but log float "
                                         r"\[0.0001, 0.01\] is continuous"):
        SweepSpec.model_validate(spec({"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}, 4))
