"""Search-space files: the shipped ones validate; each kind of bad file fails before Ray starts with exit
code 2 and one line naming the file, the field and what was expected."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import tune
from trainables.searchspace import SearchSpaceError, load_sweep
from trainables.sweep.prepare import check_configurations_fit_data, prepare_sweep

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "searchspaces").glob("*.yaml"))


def assert_one_line_error(capsys, path, words) -> None:
    """What tune.py printed is one line, ``error: <file>: ...``, holding every expected word."""
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, f"expected one line, got: {err}"
    assert err.startswith(f"error: {path}: ")
    for word in words:
        assert word in err, f"{word!r} missing from: {err}"


def base_spec() -> dict:
    return yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text())


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """This machine as the checks see it: no GPUs, no RAY_ADDRESS, no running ``ray start`` cluster, stores in
    a temporary home; and ``run_sweep`` replaced by a tripwire, so a check that lets a bad file through fails
    the test instead of starting Ray."""
    import trainables.sweep.driver
    import trainables.sweep.resources

    monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(trainables.sweep.resources, "local_gpu_count", lambda: 0)
    monkeypatch.setattr(trainables.sweep.resources, "running_local_cluster", lambda *environ: None)

    def tripwire(*args, **kwargs):
        raise AssertionError("the file got past every check: run_sweep (Ray) was reached")

    monkeypatch.setattr(trainables.sweep.driver, "run_sweep", tripwire)
    return monkeypatch


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_searchspaces_validate_and_dry_run(path, capsys, machine):
    spec = load_sweep(path)
    assert spec.search, "a shipped sweep searches something"
    if spec.resources.gpus_per_worker:  # a GPU sweep is planned for a cluster from a machine without GPUs
        machine.setenv("RAY_ADDRESS", "ray://gpu-cluster:10001")
    assert tune.main([str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert spec.name in out and spec.objective.metric in out
    for key in spec.search:
        assert key in out
    if spec.domain.name == "timeseries":
        assert f"windows {spec.data.window.length} steps, overlap {spec.data.window.overlap:g}" in out
        assert ("series resized to 128 steps" in out) == (spec.data.series_length == 128)
    # A method with heads of its own lists no projector settings (they would change nothing); a sweep across
    # methods lists them with the methods that build one.
    from selfsup.methods import METHODS

    assert ("projector_dim" in out) == any(METHODS.get(name).uses_projector for name in spec.method_names)
    for name in spec.method_names:
        assert name in out


def test_dry_run_names_the_evaluation_windows(tmp_path, capsys, machine):
    path = tmp_path / "whole.yaml"
    path.write_text(
        yaml.safe_dump(
            _apply(
                base_spec(),
                [
                    ("data.series_length", 64),
                    ("data.window.length", 48),
                    ("data.window.overlap", 0.5),
                    ("data.evaluation_window", {"length": 64, "overlap": 0}),
                ],
            )
        )
    )
    assert tune.main([str(path), "--dry-run"]) == 0
    assert (
        "series resized to 64 steps; windows 48 steps, overlap 0.5; evaluated on windows of 64 steps, overlap 0;"
    ) in capsys.readouterr().out


def test_cv_objective_validates_at_any_label_fraction(tmp_path):
    path = tmp_path / "cv.yaml"
    path.write_text(yaml.safe_dump(_set(base_spec(), "objective.metric", "cv/linear/f1/frac_0.1")))
    spec = load_sweep(path)
    assert spec.objective.metric == "cv/linear/f1/frac_0.1" and 0.1 not in spec.evaluation.label_fractions


def test_sampler_short_and_long_forms(tmp_path, monkeypatch):
    from trainables.sweep.driver import _searcher
    from trainables.tracking.stores import resolve_stores

    monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path))
    path = tmp_path / "sampler.yaml"
    path.write_text(yaml.safe_dump({**base_spec(), "sampler": {"type": "tpe", "startup_trials": 3}}))
    spec = load_sweep(path)
    searcher = _searcher(spec, resolve_stores(), "study", concurrency=2).searcher  # inside the ConcurrencyLimiter
    assert searcher.study.sampler._n_startup_trials == 3  # what Optuna's TPE is given, not just what we parsed
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


def _apply(spec: dict, edit) -> dict:
    """One edit (dotted key, value) or a list of them; the value ``_DELETE`` removes the key."""
    for dotted, value in edit if isinstance(edit, list) else [edit]:
        _set(spec, dotted, value)
    return spec


ITALY = {
    "pretext": {"source": "aeon", "name": "ItalyPowerDemand"},  # bundled; every series 24 steps
    "downstream": {"source": "aeon", "name": "ItalyPowerDemand"},
    "window": {"length": 50, "overlap": 0.8},
}
GRID = {
    "backbone": {"type": "categorical", "choices": ["conv1d", "gru"]},
    "projector_dim": {"type": "categorical", "choices": [256, 512, 1024]},
}

BAD_FILES = [
    # (id, edit, words the one-line message must contain)
    ("unknown top-level key", ("epochz", 3), ["epochz", "unknown key", "budget"]),
    ("unknown nested key", ("budget.trails", 3), ["budget.trails", "unknown key", "trials"]),
    ("unknown method", ("method", "barlow_twinz"), ["method", "barlow_twinz", "barlow_twins"]),
    (
        "unknown backbone choice",
        ("search.backbone.choices", ["conv1d", "resnet9000"]),
        ["search.backbone", "resnet9000", "conv1d"],
    ),
    ("unknown aeon dataset", ("data.downstream.name", "NoSuchSet"), ["data.downstream", "NoSuchSet", "BasicMotions"]),
    ("wrong type", ("budget.trials", "many"), ["budget.trials", "integer", "many"]),
    ("empty choices", ("search.projector_dim.choices", []), ["search.projector_dim", "choices"]),
    ("low above high", ("search.lr.low", 0.1), ["search.lr", "low must be < high"]),
    ("log range not positive", ("search.lambda_offdiag.low", 0.0), ["search.lambda_offdiag", "log range", "low > 0"]),
    (
        "label fraction above 1",
        ("evaluation.label_fractions", [0.5, 1.5]),
        ["evaluation.label_fractions", "1.5", "(0, 1]"],
    ),
    ("label fraction zero", ("evaluation.label_fractions", [0.0, 1.0]), ["evaluation.label_fractions", "(0, 1]"]),
    (
        "objective no protocol produces",
        ("objective.metric", "val/svm/acc/frac_1.0"),
        ["objective.metric", "val/svm", "produced by no protocol"],
    ),
    ("objective protocol not run", ("evaluation.protocols", ["knn"]), ["objective.metric", "linear", "protocols"]),
    (
        "objective fraction not evaluated",
        ("objective.metric", "val/knn/acc/frac_0.25"),
        ["objective.metric", "0.25", "label_fractions"],
    ),
    (
        "objective on test data",
        ("objective.metric", "test/knn/acc/frac_1.0"),
        ["objective.metric", "test data only reports"],
    ),
    (
        "cv objective of the untrained backbone",
        ("objective.metric", "random_init/cv/linear/acc/frac_1.0"),
        ["objective.metric", "produced by no protocol", "cv/"],
    ),
    ("cv folds below two", ("evaluation.cv_folds", 1), ["evaluation.cv_folds", "greater than or equal to 2"]),
    (
        "in-trial execution with two workers",
        ("resources", {"workers": 2, "execution": "in_trial"}),
        ["resources", "in_trial", "ray_train"],
    ),
    ("unknown sampler", ("sampler", "cmaes"), ["sampler", "cmaes", "tpe", "random"]),
    (
        "start-up trials for random search",
        ("sampler", {"type": "random", "startup_trials": 3}),
        ["sampler", "startup_trials", "tpe"],
    ),
    ("unknown hyperparameter", ("fixed.lamda", 0.1), ["lamda", "unknown hyperparameter", "lambda_offdiag"]),
    ("hyperparameter of another method", ("fixed.sim_coeff", 25.0), ["sim_coeff", "barlow_twins"]),
    ("searched and fixed", ("fixed.lr", 0.001), ["lr", "both searched and fixed"]),
    ("projector of a method without one", ("method", "tnc"), ["projector_dim", "tnc has no shared projector"]),
    ("invalid hyperparameter bound", ("search.batch_size.choices", [1, 64]), ["search.batch_size", "batch_size", "2"]),
    ("missing method", ("method", _DELETE), ["name the method: method: <name> for one, or methods:"]),
    ("overlap out of range", ("data.window.overlap", 1.0), ["data.window.overlap", "less than 1"]),
    ("csv without path", ("data.pretext", {"source": "csv"}), ["data.pretext", "path"]),
    ("unknown data source", ("data.pretext.source", "parquet"), ["data.pretext.source", "parquet", "ucr_files"]),
    # --- added with the resource, window and file checks
    (
        "backbone of another domain",
        ("search.backbone.choices", ["conv1d", "resnet18"]),
        ["backbone 'resnet18'", "images", "time series backbones: conv1d, dilated_conv1d, gru"],
    ),
    ("hyperparameter of another domain", ("fixed.input_size", 32), ["'input_size'", "images", "time series"]),
    ("negative epochs", ("budget.epochs", -1), ["budget.epochs", "greater than or equal to 1"]),
    ("zero trials", ("budget.trials", 0), ["budget.trials", "greater than or equal to 1"]),
    ("zero concurrent trials", ("budget.max_concurrent", 0), ["budget.max_concurrent", "greater than or equal to 1"]),
    ("missing data", ("data", _DELETE), ["data", "required field is missing"]),
    ("invalid sweep name", ("name", "my sweep!"), ["name", "pattern", "my sweep!"]),
    ("negative seed", ("seed", -1), ["seed", "greater than or equal to 0"]),
    ("unknown dimension type", ("search.lr.type", "loguniform"), ["search.lr.type", "'categorical', 'int' or 'float'"]),
    ("log range with a step", ("search.lr.step", 0.001), ["search.lr", "'step' cannot be combined with log=true"]),
    (
        "int dimension with fractional bounds",
        ("search.batch_size", {"type": "int", "low": 16.5, "high": 64}),
        ["search.batch_size", "int dimension needs integer bounds"],
    ),
    (
        "int dimension with a fractional step",
        ("search.batch_size", {"type": "int", "low": 16, "high": 64, "step": 2.5}),
        ["search.batch_size", "int dimension needs an integer step", "2.5"],
    ),
    (
        "zero step",
        ("search.lr", {"type": "float", "low": 0.0003, "high": 0.003, "step": 0}),
        ["search.lr", "step must be > 0"],
    ),
    (
        "step on a categorical dimension",
        ("search.batch_size.step", 32),
        ["search.batch_size", "categorical dimension takes 'choices', not low/high/log/step"],
    ),
    (
        "repeated choice",
        ("search.batch_size.choices", [32, 64, 32]),
        ["search.batch_size", "choices repeat 32", "each choice once"],
    ),
    ("infinite bound", ("search.lr.high", float("inf")), ["search.lr.high", "finite number"]),
    ("NaN bound", ("search.lr.low", float("nan")), ["search.lr.low", "finite number", "nan"]),
    (
        "infinite fixed learning rate",
        [("search.lr", _DELETE), ("fixed.lr", float("inf"))],
        ["lr", "finite number", "got inf"],
    ),
    (
        "NaN fixed method hyperparameter",
        [("search.lambda_offdiag", _DELETE), ("fixed.lambda_offdiag", float("nan"))],
        ["lambda_offdiag", "finite number", "got nan"],
    ),
    ("infinite fixed weight decay", ("fixed.weight_decay", float("inf")), ["weight_decay", "finite number", "got inf"]),
    (
        "infinite choice",
        ("search.lambda_offdiag", {"type": "categorical", "choices": [0.001, float("inf")]}),
        ["search.lambda_offdiag", "finite number"],
    ),
    (
        "float dimension of an integer hyperparameter",
        ("search.batch_size", {"type": "float", "low": 32, "high": 64}),
        ["search.batch_size", "fractional values", "batch_size takes whole numbers", "type: int"],
    ),
    (
        "grid over a continuous dimension",
        ("sampler", "grid"),
        ["search.lambda_offdiag", "a grid needs a finite set of values", "categorical"],
    ),
    (
        "grid size is not the trial budget",
        [("sampler", "grid"), ("search", GRID)],
        ["sampler grid", "6 points", "budget.trials is 8", "set budget.trials: 6"],
    ),
    ("zero workers", ("resources.workers", 0), ["resources.workers", "greater than or equal to 1"]),
    ("negative cpus per worker", ("resources.cpus_per_worker", -1), ["resources.cpus_per_worker", "greater than 0"]),
    ("unknown precision", ("resources.precision", "fp16"), ["resources.precision", "'fp32' or 'bf16'", "fp16"]),
    ("unknown execution", ("resources.execution", "gpu"), ["resources.execution", "'auto', 'in_trial' or 'ray_train'"]),
    (
        "channels-last on time series",
        ("resources.channels_last", True),
        ["resources.channels_last", "3-D", "remove it"],
    ),
    (
        "GPU on a machine without GPUs",
        ("resources.gpus_per_worker", 1),
        ["resources.gpus_per_worker", "one trial asks for 1 GPU", "this machine has 0 GPUs", "RAY_ADDRESS"],
    ),
    ("negative overlap", ("data.window.overlap", -0.1), ["data.window.overlap", "greater than or equal to 0"]),
    ("window shorter than four steps", ("data.window.length", 3), ["data.window.length", "greater than or equal to 4"]),
    (
        "window longer than every series",
        ("data", ITALY),
        ["data.window.length", "50 steps", "every series of aeon:ItalyPowerDemand", "24 steps", "expected at most 24"],
    ),
    (
        "searched window longer than every series",
        [
            ("data", {**ITALY, "window": {"length": 20, "overlap": 0.5}}),
            ("search.window_length", {"type": "categorical", "choices": [16, 32]}),
        ],
        ["search.window_length", "32 steps", "aeon:ItalyPowerDemand", "expected at most 24"],
    ),
    (
        "fixed window longer than every series",
        [("data", {**ITALY, "window": {"length": 20, "overlap": 0.5}}), ("fixed.window_length", 30)],
        ["fixed.window_length", "30 steps", "aeon:ItalyPowerDemand", "expected at most 24"],
    ),
    (
        "window longer than the resized series",
        [("data.series_length", 40), ("data.window.length", 64)],
        ["data.window.length", "64 steps", "data.series_length resizes to 40 steps", "expected at most 40"],
    ),
    (
        "evaluation window longer than the resized series",
        [
            ("data.series_length", 40),
            ("data.window.length", 32),
            ("data.evaluation_window", {"length": 48, "overlap": 0}),
        ],
        ["data.evaluation_window.length", "48 steps", "data.series_length resizes to 40 steps", "expected at most 40"],
    ),
    (
        "evaluation window longer than every series",
        [
            (
                "data",
                {**ITALY, "window": {"length": 20, "overlap": 0.5}, "evaluation_window": {"length": 30, "overlap": 0}},
            )
        ],
        ["data.evaluation_window.length", "30 steps", "aeon:ItalyPowerDemand", "expected at most 24"],
    ),
    ("series length of three steps", ("data.series_length", 3), ["data.series_length", "greater than or equal to 4"]),
    ("validation fraction of all", ("data.validation_fraction", 1.0), ["data.validation_fraction", "less than 1"]),
    (
        "aeon with a path",
        ("data.pretext.path", "/data/BasicMotions"),
        ["data.pretext", "takes no 'path'", "/data/BasicMotions"],
    ),
    ("aeon without a name", ("data.downstream", {"source": "aeon"}), ["data.downstream", "needs a 'name'"]),
    (
        "two domains",
        ("data.pretext", {"source": "digits"}),
        ["data", "images", "time series", "both must be one domain"],
    ),
    (
        "unknown evaluation unit",
        ("evaluation.unit", "recording"),
        ["evaluation.unit", "'series' or 'window'", "recording"],
    ),
    ("no protocols", ("evaluation.protocols", []), ["evaluation.protocols", "at least 1"]),
    (
        "segmentation protocol on time series",
        ("evaluation.protocols", ["linear", "seg_frozen"]),
        ["evaluation.protocols", "'seg_frozen' does not apply", "time series"],
    ),
    ("zero neighbours", ("evaluation.knn_k", 0), ["evaluation.knn_k", "greater than or equal to 1"]),
    ("unknown objective mode", ("objective.mode", "maximize"), ["objective.mode", "'min' or 'max'", "maximize"]),
    (
        "cross-validated fine-tuning objective",
        [("evaluation.protocols", ["linear", "finetune"]), ("objective.metric", "cv/finetune/acc/frac_0.1")],
        ["objective.metric", "fine-tuning is not cross-validated"],
    ),
    ("unknown scheduler", ("scheduler.type", "hyperband"), ["scheduler.type", "'asha' or 'fifo'", "hyperband"]),
    ("ASHA reduction factor of 1", ("scheduler.reduction_factor", 1), ["scheduler.reduction_factor", "greater than 1"]),
    ("final top-k of zero", ("final", {"repeats": 1, "top_k": 0}), ["final.top_k", "greater than or equal to 1"]),
    # Once lowered by Tune and the final re-runs without a word, while the dry run printed the value asked for.
    (
        "ASHA grace period above the epochs",
        ("scheduler.grace_period", 13),
        ["scheduler.grace_period is 13 epochs, above budget.epochs 12", "expected at most 12"],
    ),
    (
        "final top-k above the trials",
        ("final", {"repeats": 1, "top_k": 9}),
        ["final.top_k is 9 configurations to re-run, above budget.trials 8", "expected at most 8"],
    ),
    # Once a TypeError traceback: the backbone checks put what they are given in a set.
    (
        "backbone that is a list",
        [("search.backbone", _DELETE), ("fixed.backbone", [1])],
        ["backbone", "Input should be a valid string"],
    ),
    (
        "backbone choices that are mappings",
        ("search.backbone.choices", [{"a": 1}, {"b": 2}]),
        ["search.backbone", "Input should be a valid string"],
    ),
    (
        "missing data files",
        [
            ("data.pretext", {"source": "csv", "path": "/nonexistent/har"}),
            ("data.downstream", {"source": "csv", "path": "/nonexistent/har"}),
        ],
        ["/nonexistent/har", "train.csv"],
    ),
]
# Refused only when the sweep is run: the dry run plans without the data files (they may live on the cluster).
ONLY_THE_RUN_REFUSES = {"missing data files"}


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
@pytest.mark.parametrize("case_id,edit,words", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_searchspace_is_refused_with_a_clear_line(tmp_path, capsys, machine, case_id, edit, words, dry_run):
    import ray

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_apply(base_spec(), edit)))
    if dry_run and case_id in ONLY_THE_RUN_REFUSES:
        assert tune.main([str(path), "--dry-run"]) == 0
        return
    assert tune.main([str(path)] + (["--dry-run"] if dry_run else [])) == 2
    assert_one_line_error(capsys, path, words)
    assert not ray.is_initialized()


def test_the_table_of_bad_files_is_large_and_unique():
    assert len(BAD_FILES) >= 40 and len({case[0] for case in BAD_FILES}) == len(BAD_FILES)


BAD_TEXTS = [
    # (id, file content (bytes), or "directory" / "missing", words of the one-line message)
    (
        "Latin-1 bytes",
        "name: caf\u00e9\nmethod: barlow_twins\n".encode("latin-1"),
        ["not UTF-8 text", "byte 0xe9 at line 1", "expected a UTF-8 YAML file"],
    ),
    (
        "binary file",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        ["not UTF-8 text", "byte 0x89", "expected a UTF-8"],
    ),
    ("UTF-16 file", "name: x\nmethod: simclr\n".encode("utf-16"), ["not UTF-8 text", "expected a UTF-8 YAML file"]),
    ("NUL bytes", b"name: x\n\x00\x00\x00\x00", ["not UTF-8 text", "NUL byte at line 2", "expected a UTF-8"]),
    ("empty file", b"", ["the file is empty", "expected a mapping of sweep settings"]),
    ("blank lines only", b"\n  \n\n", ["the file is empty", "expected a mapping of sweep settings"]),
    ("comments only", b"# a sweep, some day\n", ["holds no settings", "expected a mapping of sweep settings"]),
    ("a directory", "directory", ["is a directory", "expected a search-space YAML file"]),
    ("missing file", "missing", ["no such search-space file"]),
    ("top-level list", b"- just\n- a list\n", ["expected a mapping", "list"]),
    ("malformed YAML", b"name: x\nmethod: [unclosed\n", ["malformed YAML", "line"]),
    ("duplicate top-level key", "duplicate-search", ["search: given twice", "expected each key once"]),
    ("duplicate nested key", "duplicate-lr", ["search.lr: given twice", "expected each key once"]),
]


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
@pytest.mark.parametrize("case_id,content,words", BAD_TEXTS, ids=[c[0] for c in BAD_TEXTS])
def test_unreadable_searchspace_file_is_one_line(tmp_path, capsys, machine, case_id, content, words, dry_run):
    path = tmp_path / "bad.yaml"
    text = (ROOT / "searchspaces" / "barlow.yaml").read_text()
    if content == "directory":
        path.mkdir()
    elif content == "duplicate-search":  # a second search block would silently replace the first
        path.write_text(text + "\nsearch:\n  lr: {type: float, low: 0.0003, high: 0.003, log: true}\n")
    elif content == "duplicate-lr":
        path.write_text(
            text.replace(
                "  batch_size:     {type: categorical, choices: [32, 64]}",
                "  batch_size:     {type: categorical, choices: [32, 64]}\n"
                "  lr:             {type: float, low: 0.001, high: 0.01, log: true}",
            )
        )
    elif content != "missing":
        path.write_bytes(content)
    assert tune.main([str(path)] + (["--dry-run"] if dry_run else [])) == 2
    assert_one_line_error(capsys, path, words)


def test_a_repeated_key_names_both_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("name: a\nmethod: simclr\nname: b\n")
    with pytest.raises(SearchSpaceError, match=r"name: given twice \(line 1 and line 3\)"):
        load_sweep(path)


def test_the_cli_refuses_a_non_utf8_file_from_a_fresh_process(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    run = subprocess.run(
        [sys.executable, "tune.py", str(bad), "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"error: {bad}: not UTF-8 text")


@pytest.mark.parametrize(
    "text,words",
    [
        ("name: x\nmethod: [unclosed\n", ["malformed YAML", "line"]),
        ("- just\n- a list\n", ["expected a mapping", "list"]),
    ],
)
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
    run = subprocess.run(
        [sys.executable, "tune.py", str(bad), "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and "unknown method 'nope'" in run.stderr
    helped = subprocess.run(
        [sys.executable, "tune.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert helped.returncode == 0 and "--dry-run" in helped.stdout


def test_stores_are_absolute_and_reports_survive_a_ray_job(tmp_path, monkeypatch):
    from trainables.tracking.stores import resolve_stores

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
    from trainables.searchspace import SweepSpec

    def spec(search, trials):
        return {
            "name": "g",
            "method": "barlow_twins",
            "sampler": "grid",
            "budget": {"trials": trials},
            "data": {
                "pretext": {"source": "aeon", "name": "BasicMotions"},
                "downstream": {"source": "aeon", "name": "BasicMotions"},
            },
            "search": search,
        }

    grid = {
        "projector_dim": {"type": "categorical", "choices": [256, 512, 1024]},
        "lambda_offdiag": {"type": "float", "low": 0.001, "high": 0.005, "step": 0.002},
        "batch_size": {"type": "int", "low": 32, "high": 64, "step": 32},
    }
    accepted = SweepSpec.model_validate(spec(grid, 18))
    assert accepted.grid() == {
        "projector_dim": [256, 512, 1024],
        "lambda_offdiag": [0.001, 0.003, 0.005],
        "batch_size": [32, 64],
    }
    with pytest.raises(
        ValueError,
        match=r"sampler grid: the grid has 18 points \(3 projector_dim x 3 "
        r"lambda_offdiag x 2 batch_size\), but budget.trials is 8; set "
        r"budget.trials: 18",
    ):
        SweepSpec.model_validate(spec(grid, 8))
    with pytest.raises(
        ValueError,
        match=r"search.lr: a grid needs a finite set of values, but log float "
        r"\[0.0001, 0.01\] is continuous",
    ):
        SweepSpec.model_validate(spec({"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}, 4))


# ------------------------------------------------------------------------------ GPUs asked of the machine
def _gpu_sweep(tmp_path, gpus=1, workers=1) -> Path:
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(_set(base_spec(), "resources", {"workers": workers, "gpus_per_worker": gpus})))
    return path


@pytest.mark.parametrize(
    "asked, enough, refusal",
    [
        (
            {"workers": 2, "gpus_per_worker": 0.5},
            ("local_gpu_count", lambda: 1),
            "resources.gpus_per_worker: one trial asks for 1 GPU (2 worker(s) x 0.5), but this machine has 0 GPUs "
            "and Ray would start here (RAY_ADDRESS is not set); expected gpus_per_worker: 0 to train on CPU, or "
            "RAY_ADDRESS naming a cluster with GPUs",
        ),
        (
            {"workers": 2, "cpus_per_worker": 1.5},
            ("cpu_count", lambda: 4),
            "resources.cpus_per_worker: one trial asks for 3 CPU (2 worker(s) x 1.5), but this machine has 2 CPUs "
            "and Ray would start here (RAY_ADDRESS is not set); expected workers x cpus_per_worker of at most 2, or "
            "RAY_ADDRESS naming a larger cluster",
        ),
        (
            {"memory_gib_per_worker": 24},
            ("local_memory_gib", lambda: 32.0),
            "resources.memory_gib_per_worker: one trial asks for 24 GiB (1 worker(s) x 24), but this machine has "
            "23.5 GiB and Ray would start here (RAY_ADDRESS is not set); expected workers x memory_gib_per_worker of "
            "at most 23.5, or RAY_ADDRESS naming a larger cluster",
        ),
    ],
    ids=["gpus", "cpus", "memory"],
)
def test_more_than_this_machine_has_is_refused_before_ray_starts(tmp_path, capsys, machine, asked, enough, refusal):
    """A machine of 0 GPUs, 2 CPUs and 23.5 GiB, where Ray would start: one line, exit 2, in the sweep and the dry
    run; nothing refused where Ray would join a cluster (checked there), nor once the machine has enough."""
    import trainables.sweep.resources as resources

    machine.setattr(resources.os, "cpu_count", lambda: 2)
    machine.setattr(resources, "local_memory_gib", lambda: 23.5)
    path = tmp_path / "asks.yaml"
    path.write_text(yaml.safe_dump(_set(base_spec(), "resources", asked)))
    for extra in ([], ["--dry-run"]):
        assert tune.main([str(path), *extra]) == 2
        assert capsys.readouterr().err.strip() == f"error: {path}: {refusal}"
    spec = load_sweep(path)
    resources.check_local_resources(spec, environ={"RAY_ADDRESS": "ray://cluster:10001"})
    machine.setattr(resources, "running_local_cluster", lambda *environ: "10.0.0.1:6379")
    resources.check_local_resources(spec)  # ray.init() joins the running cluster: checked once joined
    machine.setattr(resources, "running_local_cluster", lambda *environ: None)
    name, has_enough = enough
    machine.setattr(resources.os if name == "cpu_count" else resources, name, has_enough)
    resources.check_local_resources(spec)


def test_the_dry_run_shows_what_a_worker_reserves(tmp_path, capsys, machine):
    path = tmp_path / "memory.yaml"
    path.write_text(yaml.safe_dump(_set(base_spec(), "resources", {"memory_gib_per_worker": 2})))
    assert tune.main([str(path), "--dry-run"]) == 0
    assert "1 worker(s) per trial x 1 CPU, 0 GPU, 2 GiB, in the Tune trial process" in capsys.readouterr().out


def test_a_gpu_sweep_dry_runs_for_a_cluster(tmp_path, capsys, machine):
    path = _gpu_sweep(tmp_path)
    assert tune.main([str(path), "--dry-run"]) == 2
    machine.setenv("RAY_ADDRESS", "ray://gpu-cluster:10001")
    assert tune.main([str(path), "--dry-run"]) == 0
    assert "1 GPU" in capsys.readouterr().out


def test_a_cluster_without_gpus_is_one_line_and_records_nothing(tmp_path, capsys, monkeypatch):
    """With RAY_ADDRESS the cluster's resources are read once Ray has joined it (here a stand-in for Ray),
    before the sweep's MLflow parent run is created: exit 2, one line, nothing recorded."""
    import ray
    from mlflow.tracking import MlflowClient

    from trainables.tracking.stores import resolve_stores

    monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "ray://gpu-less:10001")
    joined = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: joined.append(kwargs))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 0.0})
    monkeypatch.setattr("trainables.sweep.driver.node_resources", lambda ray: [{"CPU": 16.0, "GPU": 0.0}])
    monkeypatch.setattr("trainables.sweep.preflight._check_ray_address", lambda address, timeout: None)  # it answers
    path = _gpu_sweep(tmp_path)
    assert tune.main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {path}: resources.gpus_per_worker: one trial asks for 1 GPU (1 worker(s) x 1), but the "
        f"Ray cluster at ray://gpu-less:10001 has 0 GPU; expected at most 0 GPU per worker there, or a "
        f"cluster with GPUs"
    )
    assert joined == [{"address": "ray://gpu-less:10001", "log_to_driver": True}]
    client = MlflowClient(resolve_stores().mlflow_uri)
    assert client.get_experiment_by_name(f"sslsweep/{load_sweep(path).name}") is None  # no parent run at all


def test_a_cluster_with_too_few_cpus_names_cpus_per_worker():
    from trainables.sweep.resources import ResourceError, trial_concurrency

    spec = load_sweep(ROOT / "searchspaces" / "barlow.yaml")
    spec = spec.model_validate({**spec.model_dump(), "resources": {"cpus_per_worker": 8}})
    with pytest.raises(ResourceError, match=r"^resources.cpus_per_worker: one trial asks for 8 CPU .* has 2 CPU"):
        trial_concurrency(spec, [{"CPU": 2.0}], environ={})
    assert trial_concurrency(spec, [{"CPU": 16.0}], environ={}) == 2


GIB = 1024**3


def _with_resources(**resources):
    spec = load_sweep(ROOT / "searchspaces" / "barlow.yaml")
    return spec.model_validate({**spec.model_dump(), "budget": {"trials": 64}, "resources": resources})


def test_memory_per_worker_is_asked_of_ray_in_bytes_for_the_trial_and_each_train_worker():
    from trainables.searchspace import LAUNCHER_REQUEST

    in_trial = _with_resources(cpus_per_worker=1, memory_gib_per_worker=1.5)
    assert in_trial.resources.per_worker() == {"CPU": 1.0, "memory": 1.5 * GIB}
    assert in_trial.resources.trial_process() == {"CPU": 1.0, "memory": 1.5 * GIB}
    train = _with_resources(workers=2, cpus_per_worker=1, gpus_per_worker=0.5, memory_gib_per_worker=2)
    assert train.resources.trial_process() == LAUNCHER_REQUEST  # the launcher; each Ray Train worker asks for:
    assert train.resources.per_worker() == {"CPU": 1.0, "GPU": 0.5, "memory": 2 * GIB}
    assert _with_resources().resources.per_worker() == {"CPU": 1.0}  # nothing reserved unless asked


def test_trials_at_once_are_what_each_node_holds():
    """A worker runs on one node: 4 nodes of 8 CPUs and 3 GiB hold two 1.5 GiB workers each, not 8 (their CPUs)
    nor the 8 the cluster's summed memory would suggest; two-worker trials take two of those workers each."""
    from trainables.sweep.resources import ResourceError, trial_concurrency

    nodes = [{"CPU": 8.0, "memory": 3 * GIB}] * 4
    assert trial_concurrency(_with_resources(), nodes, environ={}) == 32
    assert trial_concurrency(_with_resources(memory_gib_per_worker=1.5), nodes, environ={}) == 8
    assert trial_concurrency(_with_resources(memory_gib_per_worker=2), nodes, environ={}) == 4
    assert trial_concurrency(_with_resources(workers=2, memory_gib_per_worker=2), nodes, environ={}) == 2
    uneven = [{"CPU": 1.0, "memory": 16 * GIB}, {"CPU": 8.0, "memory": 1 * GIB}]
    assert trial_concurrency(_with_resources(memory_gib_per_worker=1), uneven, environ={}) == 2
    # A Ray Train trial's launcher holds 256 MiB beside its workers: one 4 GiB node holds three 1 GiB workers
    # with it, so a trial of four does not fit, and two trials of two take 2 x 2.25 GiB of 5 GiB.
    assert (
        trial_concurrency(
            _with_resources(workers=2, memory_gib_per_worker=1), [{"CPU": 8.0, "memory": 5 * GIB}], environ={}
        )
        == 2
    )
    with pytest.raises(ResourceError) as refused:
        trial_concurrency(
            _with_resources(workers=4, memory_gib_per_worker=1), [{"CPU": 8.0, "memory": 4 * GIB}], environ={}
        )
    assert str(refused.value) == (
        "resources.workers: one trial asks for 4 workers of 1 CPU, 1 GiB each beside the Tune trial that launches "
        "them (0 CPU, 0.25 GiB), but the Ray cluster holds 3 at once; expected workers of at most 3 there"
    )


def test_a_request_no_node_holds_names_the_field_and_the_largest_node():
    from trainables.sweep.resources import ResourceError, trial_concurrency

    nodes = [{"CPU": 8.0, "memory": 3 * GIB}, {"CPU": 8.0, "memory": 12.5 * GIB}]
    with pytest.raises(ResourceError) as refused:
        trial_concurrency(_with_resources(memory_gib_per_worker=16), nodes, environ={"RAY_ADDRESS": "10.0.0.1:6379"})
    assert str(refused.value) == (
        "resources.memory_gib_per_worker: one trial asks for 16 GiB (1 worker(s) x 16), but the Ray cluster at "
        "10.0.0.1:6379 has 2 nodes, the largest with 12.5 GiB; expected at most 12.5 GiB per worker there"
    )
    # Each worker fits a node, but not three of them at once beside their launcher.
    with pytest.raises(ResourceError) as refused:
        trial_concurrency(_with_resources(workers=3, memory_gib_per_worker=8), nodes, environ={})
    assert str(refused.value) == (
        "resources.workers: one trial asks for 3 workers of 1 CPU, 8 GiB each beside the Tune trial that launches "
        "them (0 CPU, 0.25 GiB), but the Ray cluster holds 1 at once; expected workers of at most 1 there"
    )
    # The GPU on one node, the memory on another: no node holds one worker.
    apart = [{"CPU": 8.0, "GPU": 1.0, "memory": 8 * GIB}, {"CPU": 8.0, "memory": 64 * GIB}]
    with pytest.raises(ResourceError) as refused:
        trial_concurrency(_with_resources(gpus_per_worker=1, memory_gib_per_worker=16), apart, environ={})
    assert str(refused.value) == (
        "resources: one worker asks for 1 CPU, 1 GPU, 16 GiB, but no node of the Ray cluster has all of that; "
        "expected a request one node holds"
    )
    # A limit named is rounded down, never up to what a node does not have.
    with pytest.raises(ResourceError, match=r"cluster has 12.46 GiB; expected at most 12.46 GiB per worker"):
        trial_concurrency(
            _with_resources(memory_gib_per_worker=12.5), [{"CPU": 8.0, "memory": 12.469 * GIB}], environ={}
        )


def test_the_nodes_ray_lists_alive_and_the_cluster_as_one_where_it_cannot():
    from trainables.sweep.resources import node_resources

    class Listing:
        @staticmethod
        def nodes():
            return [
                {"Alive": True, "Resources": {"CPU": 8.0}},
                {"Alive": False, "Resources": {"CPU": 64.0}},
                {"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0}},
            ]

    class NoListing:
        @staticmethod
        def nodes():
            raise RuntimeError("not connected")

        @staticmethod
        def cluster_resources():
            return {"CPU": 10.0}

    assert node_resources(Listing) == [{"CPU": 8.0}, {"CPU": 2.0, "GPU": 1.0}]
    with pytest.warns(UserWarning, match="Ray did not list the cluster's nodes .not connected.; counting trials on"):
        assert node_resources(NoListing) == [{"CPU": 10.0}]


# ------------------------------------------------------------------- windows against the series they cut
def test_a_window_longer_than_only_some_series_is_allowed(tmp_path, capsys, machine):
    """PickupGestureWiimoteZ's gestures are 29 to 361 steps: 50-step windows pad only the short ones."""
    from selfsup.data.timeseries.prepare import longest_series

    data = {"source": "aeon", "name": "PickupGestureWiimoteZ"}
    assert longest_series(data) == 361
    spec = _set(base_spec(), "data", {"pretext": data, "downstream": data, "window": {"length": 50, "overlap": 0.5}})
    path = tmp_path / "pickup.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert tune.main([str(path), "--dry-run"]) == 0
    check_configurations_fit_data(load_sweep(path))  # what the run checks before Ray


def test_window_lengths_the_sweep_can_draw():
    from selfsup.domains.timeseries import window_lengths
    from trainables.searchspace import SweepSpec

    def spec(dotted=None, value=None):
        sweep = SweepSpec.model_validate(_set(base_spec(), dotted, value) if dotted else base_spec())
        return sweep.data, sweep.search, sweep.fixed

    assert window_lengths(*spec()) == ("data.window.length", [50])
    assert window_lengths(*spec("fixed.window_length", 30)) == ("fixed.window_length", [30])
    assert window_lengths(*spec("search.window_length", {"type": "categorical", "choices": [None, 70]})) == (
        "search.window_length",
        [50, 70],
    )
    assert window_lengths(*spec("search.window_length", {"type": "int", "low": 20, "high": 85, "step": 20})) == (
        "search.window_length",
        [20, 40, 60, 80],
    )


# ------------------------------------------------------------------------- files that are no plain YAML sweep
BARLOW_TEXT = (ROOT / "searchspaces" / "barlow.yaml").read_text()
END = BARLOW_TEXT.count("\n") + 1  # the line of what is appended to it


def _line(start: str) -> int:
    """The line of barlow.yaml that starts with ``start``."""
    return next(n for n, line in enumerate(BARLOW_TEXT.splitlines(), 1) if line.startswith(start))


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A few hundred bytes whose aliases stand for width ** levels values ("billion laughs")."""
    lines = ["laughs:", f"  - &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  - &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


BAD_YAML = [
    # (id, file text, words of the one-line message)
    (
        "integer key at the top level",
        BARLOW_TEXT + "1: a\n",
        [f"top level: key 1 (line {END}) is a number", "expected a name (quote it if it is one: '1')"],
    ),
    (
        "integer key in search",
        BARLOW_TEXT.replace("search:\n", "search:\n  2: {type: int, low: 1, high: 3}\n"),
        [f"search: key 2 (line {_line('search:') + 1}) is a number", "expected a name"],
    ),
    ("null key", "~: x\n" + BARLOW_TEXT, ["top level: key ~ (line 1) is null", "expected a name"]),
    (
        "boolean key",
        BARLOW_TEXT.replace("fixed:\n", "fixed:\n  on: 1\n"),
        [f"fixed: key on (line {_line('fixed:') + 1}) is a boolean", "expected a name"],
    ),
    ("list as a key", BARLOW_TEXT + "? [a, b]\n: 1\n", [f"top level: a key (line {END}) is a list", "expected a name"]),
    (
        "5,000 nested lists",
        BARLOW_TEXT.replace("description: Barlow", "description: " + "[" * 5000 + "]" * 5000 + "\nx: Barlow"),
        [f"line {_line('description:')}: nested deeper than 32 levels of mappings and lists"],
    ),
    (
        "5,000 nested mappings",
        BARLOW_TEXT + "fixed2: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
        [f"line {END}: nested deeper than 32 levels"],
    ),
    (
        "an alias inside the node it names",
        BARLOW_TEXT.replace("fixed:\n", "fixed: &fixed\n  again: *fixed\n"),
        [f"fixed.again (line {_line('fixed:')}): an alias of a node that holds it"],
    ),
    (
        "a long value",
        BARLOW_TEXT.replace("seed: 0", "seed: " + "x" * 5000),
        ["seed: Input should be a valid integer", f"(got '{'x' * 30}", "x...x", f"{'x' * 30}')"],
    ),
    (
        "a line break in a value",
        BARLOW_TEXT.replace("method: barlow_twins", 'method: "barlow\\ntwins"'),
        ["method", "barlow\\ntwins"],
    ),
]


@pytest.mark.parametrize("case_id,text,words", BAD_YAML, ids=[c[0] for c in BAD_YAML])
def test_yaml_that_is_no_plain_mapping_of_names_is_one_line(tmp_path, capsys, machine, case_id, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert tune.main([str(path), "--dry-run"]) == 2
    assert_one_line_error(capsys, path, words)


def test_no_message_quotes_more_than_an_excerpt(tmp_path, capsys, machine):
    """A value thousands of characters long is quoted by its first 80 characters or so."""
    path = tmp_path / "long.yaml"
    path.write_text(BARLOW_TEXT.replace("seed: 0", f"seed: [{', '.join(['x' * 1000] * 1000)}]"))
    assert tune.main([str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < len(f"error: {path}: ") + 200, err


def test_a_recursion_error_of_the_yaml_composer_is_one_line(tmp_path, machine):
    """Past the depth bound PyYAML's composer recurses until Python stops it; that is one line too."""
    import trainables.searchspace.yaml_file

    machine.setattr(trainables.searchspace.yaml_file, "MAX_YAML_DEPTH", 10**6)
    path = tmp_path / "deep.yaml"
    path.write_text("name: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SearchSpaceError, match=r"deep.yaml: nested too deeply to be read") as info:
        load_sweep(path)
    assert "\n" not in str(info.value)


def test_aliases_and_merge_keys_still_read(tmp_path):
    """Aliases within the bound keep working: the same data set twice, a mapping merged into another."""
    text = BARLOW_TEXT.replace(
        "  pretext:    {source: aeon, name: BasicMotions}", "  pretext:    &basic {source: aeon, name: BasicMotions}"
    )
    text = text.replace("  downstream: {source: aeon, name: BasicMotions}", "  downstream: {<<: *basic}")
    text = text.replace(
        "  batch_size:     {type: categorical, choices: [32, 64]}",
        "  batch_size:     &batches {type: categorical, choices: [32, 64]}",
    )
    path = tmp_path / "aliases.yaml"
    path.write_text(text)
    spec = load_sweep(path)
    assert spec.data.downstream.name == spec.data.pretext.name == "BasicMotions"
    assert spec.search["batch_size"].choices == [32, 64]


def test_an_alias_bomb_is_refused_in_milliseconds(tmp_path, machine, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb() + BARLOW_TEXT.replace("seed: 0", "seed: *l8"))
    assert len(_alias_bomb()) < 600  # bytes, standing for 9 ** 9 values
    started = time.perf_counter()
    assert tune.main([str(path), "--dry-run"]) == 2
    assert time.perf_counter() - started < 2
    assert_one_line_error(
        capsys,
        path,
        ["aliases (*name) expand the", "values written to 926,", "expected aliases to add at most 10,000 values"],
    )


def _special_file(tmp_path, kind: str) -> Path:
    if kind == "fifo":
        path = tmp_path / "sweep.yaml"
        os.mkfifo(path)
        return path
    if kind == "device":
        return Path("/dev/zero")
    if kind == "symlink loop":
        (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
        (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
        return tmp_path / "a.yaml"
    if kind == "dangling symlink":
        (tmp_path / "sweep.yaml").symlink_to(tmp_path / "gone.yaml")
        return tmp_path / "sweep.yaml"
    if kind == "oversized":
        path = tmp_path / "sweep.yaml"
        path.write_text(BARLOW_TEXT + "#" * (256 * 1024))
        return path
    raise ValueError(kind)


SPECIAL_FILES = [
    # (kind, words of the one-line message, with KIND for search-space / nightly)
    ("fifo", ["is a named pipe (FIFO); expected a KIND YAML file"]),
    ("device", ["is a character device; expected a KIND YAML file"]),
    ("symlink loop", ["is a symlink loop", "expected a KIND YAML file"]),
    ("dangling symlink", ["is a dangling symlink (its target does not exist)"]),
    ("oversized", ["larger than 256 KiB; expected a KIND YAML file"]),
]


@pytest.mark.parametrize("kind,words", SPECIAL_FILES, ids=[c[0] for c in SPECIAL_FILES])
def test_a_path_that_is_no_regular_file_is_one_line_without_reading_it(tmp_path, capsys, machine, kind, words):
    """A FIFO would block the read forever and /dev/zero never ends: neither is read. Search spaces and nightly
    files go through the same reader."""
    from trainables.sweep.nightly import NightlyError, load_nightly

    path = _special_file(tmp_path, kind)
    started = time.perf_counter()
    assert tune.main([str(path), "--dry-run"]) == 2
    assert_one_line_error(capsys, path, [w.replace("KIND", "search-space") for w in words])
    with pytest.raises(NightlyError) as info:
        load_nightly(path)
    assert time.perf_counter() - started < 2
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    for word in words:
        assert word.replace("KIND", "nightly") in str(info.value)


def test_a_nightly_file_is_read_with_the_search_space_bounds(tmp_path):
    from trainables.sweep.nightly import NightlyError, load_nightly

    nightly = tmp_path / "nightly.yaml"
    for text, message in [
        ("1: x\nsweeps: [a.yaml]\n", "top level: key 1 (line 1) is a number"),
        (_alias_bomb() + "sweeps: *l8\n", "expected aliases to add at most 10,000 values"),
        ("sweeps: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 32 levels"),
        ("sweeps: [a.yaml]\nsweeps: [b.yaml]\n", "sweeps: given twice (line 1 and line 2)"),
        ("", "the file is empty; expected a mapping with 'sweeps'"),
    ]:
        nightly.write_text(text)
        with pytest.raises(NightlyError) as info:
            load_nightly(nightly)
        assert str(info.value).startswith(f"{nightly}: ") and message in str(info.value), info.value
        assert "\n" not in str(info.value)
    (tmp_path / "dir.yaml").mkdir()  # there, but no file: the search-space reader names it when tune.py loads it
    nightly.write_text("sweeps: [dir.yaml]\n")
    assert load_nightly(nightly).sweep_files == [tmp_path / "dir.yaml"]
    with pytest.raises(SearchSpaceError, match=r"dir.yaml: is a directory; expected a search-space YAML file"):
        load_sweep(load_nightly(nightly).sweep_files[0])


@pytest.mark.parametrize("kind", ["fifo", "device", "bomb"])
def test_the_cli_refuses_what_would_hang_or_exhaust_memory_from_a_fresh_process(tmp_path, kind):
    path = tmp_path / "bomb.yaml" if kind == "bomb" else _special_file(tmp_path, kind)
    if kind == "bomb":
        path.write_text(_alias_bomb() + BARLOW_TEXT.replace("seed: 0", "seed: *l8"))
    run = subprocess.run(
        [sys.executable, "tune.py", str(path), "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith(f"error: {path}: ")


# ------------------------------------------------------------------------------ command-line budget overrides
GRID_FILE = {"sampler": "grid", "search": GRID, "budget": {"trials": 6, "epochs": 12}}

BAD_OVERRIDES = [
    # (id, edits of barlow.yaml, command-line arguments, words of the one-line message)
    ("negative trials", [], ["--trials", "-3"], ["--trials -3: expected a whole number of trials of at least 1"]),
    ("zero epochs", [], ["--epochs", "0"], ["--epochs 0: expected a whole number of epochs of at least 1"]),
    (
        "trials of a grid",
        list(GRID_FILE.items()),
        ["--trials", "5"],
        ["--trials 5: sampler grid runs each of its 6 points once, so its trials are fixed at 6", "no --trials"],
    ),
    (
        "epochs below the ASHA grace period",
        [],
        ["--epochs", "2"],
        ["--epochs 2: fewer epochs than scheduler.grace_period 3", "expected --epochs of at least 3"],
    ),
    (
        "trials below the final top-k",
        [("final", {"repeats": 1, "top_k": 3})],
        ["--trials", "2"],
        ["--trials 2: fewer trials than final.top_k 3", "expected --trials of at least 3"],
    ),
]


@pytest.mark.parametrize("case_id,edit,args,words", BAD_OVERRIDES, ids=[c[0] for c in BAD_OVERRIDES])
def test_a_bad_command_line_override_is_one_line_naming_the_flag(tmp_path, capsys, machine, case_id, edit, args, words):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(_apply(base_spec(), edit)))
    assert tune.main([str(path), "--dry-run", *args]) == 2
    assert_one_line_error(capsys, path, words)
    assert "budget." not in capsys.readouterr().err


def test_overrides_that_fit_are_taken(tmp_path, capsys, machine):
    """The grid's own size, epochs down to the grace period, and the default grace period (2 epochs) in a
    one-epoch budget, which becomes 1 (the dry run says so); FIFO has no grace period to fit."""
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(_apply(base_spec(), list(GRID_FILE.items()))))
    assert tune.main([str(path), "--dry-run", "--trials", "6", "--epochs", "3"]) == 0
    assert "6 trials x up to 3 epochs" in capsys.readouterr().out
    path.write_text(yaml.safe_dump(_apply(base_spec(), ("scheduler", {"type": "asha"}))))
    assert tune.main([str(path), "--dry-run", "--epochs", "1"]) == 0
    assert "asha (grace 1 epochs" in capsys.readouterr().out
    path.write_text(yaml.safe_dump(_apply(base_spec(), ("scheduler", {"type": "fifo", "grace_period": 5}))))
    assert tune.main([str(path), "--dry-run", "--epochs", "2"]) == 0
    assert (
        prepare_sweep(
            path, trials=2, epochs=3, flags={"trials": "the nightly budget.trials"}, read_data=False
        ).budget.trials
        == 2
    )
    with pytest.raises(
        SearchSpaceError,
        match=r": the nightly budget.epochs 2: fewer epochs than "
        r"scheduler.grace_period 3",
    ):
        prepare_sweep(
            ROOT / "searchspaces" / "barlow.yaml",
            epochs=2,
            flags={"epochs": "the nightly budget.epochs"},
            read_data=False,
        )


def test_what_the_budget_bounds_leaves_alone():
    from trainables.searchspace import SweepSpec

    raw = base_spec()
    raw.pop("scheduler")
    raw["budget"] = {"trials": 2, "epochs": 1}
    raw["final"] = {"repeats": 0, "top_k": 5}  # no re-runs: top_k is not used
    spec = SweepSpec.model_validate(raw)
    assert spec.scheduler.grace_period == 1 and spec.final.top_k == 5
    assert SweepSpec.model_validate(spec.model_dump()).scheduler.grace_period == 1  # every trial validates again
    # A grace period the file gives is the file's, even at the default's value: refused, not lowered.
    raw["scheduler"] = {"type": "asha", "grace_period": 2}
    with pytest.raises(ValueError, match="scheduler.grace_period is 2 epochs, above budget.epochs 1"):
        SweepSpec.model_validate(raw)


def test_the_shipped_nightly_runs_within_the_bounds_with_its_commented_budget():
    """schedules/nightly.yaml's commented budget (4 trials x 6 epochs) fits every sweep it names."""
    from trainables.searchspace import override_budget
    from trainables.sweep.nightly import load_nightly

    assert "# budget: {trials: 4, epochs: 6}" in (ROOT / "schedules" / "nightly.yaml").read_text()
    for path in load_nightly(ROOT / "schedules" / "nightly.yaml").sweep_files:
        assert override_budget(load_sweep(path), path, 4, 6).budget.epochs == 6
