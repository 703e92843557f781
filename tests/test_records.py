"""The record schema (trainables/records/tags.py) is the one place a tag is spelled: no other module of the
project holds a string with ``sslsweep.`` in it (docstrings aside), so a tag renamed there is renamed for every
writer and reader."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from trainables.records import tags

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "trainables" / "records" / "tags.py"


def _project_python_files() -> list[Path]:
    # Tracked and new files alike (what a commit would hold), as they are on disk.
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    files = [ROOT / name for name in listed] if listed else list(ROOT.rglob("*.py"))  # an export without .git
    return [path for path in files if path.exists() and "tests" not in path.relative_to(ROOT).parts and path != SCHEMA]


def _strings_outside_docstrings(tree: ast.AST) -> list[ast.Constant]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_module_but_the_schema_spells_a_tag():
    files = _project_python_files()
    assert len(files) > 50 and (ROOT / "tune.py") in files
    spelled = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}"
        for path in files
        for node in _strings_outside_docstrings(ast.parse(path.read_text()))
        if "sslsweep." in node.value
    ]
    assert spelled == []


def test_the_check_finds_a_spelled_tag():
    tree = ast.parse(
        '"""A docstring may name sslsweep.role."""\nrole = run.data.tags["sslsweep.role"]\n'
        "query = f\"tags.sslsweep.sweep = '{name}'\"\n"
    )
    assert [node.value for node in _strings_outside_docstrings(tree) if "sslsweep." in node.value] == [
        "sslsweep.role",
        "tags.sslsweep.sweep = '",
    ]


def test_every_tag_is_named_once_under_the_sslsweep_prefix():
    values = {name: value for name, value in vars(tags).items() if name.endswith("_TAG")}
    assert len(values) >= 35
    # sslsweep's own under its prefix; the MLflow tags its UI reads (a description, the parent link) under MLflow's.
    own = {value for value in values.values() if not value.startswith("mlflow.")}
    assert all(value.startswith("sslsweep.") for value in own)
    assert set(values.values()) - own == {"mlflow.note.content", "mlflow.parentRunId", "mlflow.runName"}
    assert len(set(values.values())) == len(values), "two names for one tag"
    assert tags.tag_column(tags.ROLE_TAG) == "tags.sslsweep.role"
    assert len({str(role) for role in tags.Role}) == len(tags.Role) and str(tags.Role.BASELINE) == "supervised_baseline"


def test_a_trial_is_named_by_its_searched_values_and_its_optuna_number():
    from trainables.records.names import trial_label

    params = {"backbone": "conv1d", "projector_dim": 1024, "batch_size": 32, "lr": 0.00082361, "optimizer": "adamw"}
    searched = ["backbone", "projector_dim", "batch_size", "lr"]
    assert trial_label(params, searched, 5) == "conv1d pd1024 bs32 lr8.2e-4 #5"
    assert trial_label(params, [], None) == "trial"
    # Two searched names that would shorten alike keep their whole names (vicreg's sim_coeff and std_coeff).
    vicreg = {"sim_coeff": 25.0, "std_coeff": 18.0, "cov_coeff": 1.25, "temperature": 0.5, "flag": True}
    assert trial_label(vicreg, list(vicreg), 0) == "sim_coeff25 std_coeff18 cc1.2 temp0.5 flagon #0"


def test_a_repeat_and_a_baseline_are_named_after_the_trial_they_rerun_or_match():
    from trainables.records.names import run_label
    from trainables.records.results import BASELINE_OF_KEY, REPEAT_OF_KEY, TRAINING_SEED_KEY, TRIAL_NUMBER_KEY

    trial = {"backbone": "gru", "lr": 0.001, TRIAL_NUMBER_KEY: 4}
    named = {"run-a": "gru lr1e-3 #4"}
    assert run_label(trial, ["backbone", "lr"]) == "gru lr1e-3 #4"
    repeat = {**trial, REPEAT_OF_KEY: "run-a", TRAINING_SEED_KEY: 7}
    assert run_label(repeat, ["backbone", "lr"], named) == "gru lr1e-3 #4 seed 7"
    assert run_label(repeat, ["backbone"]) == "gru #4 seed 7"  # its own configuration where the trial is unnamed
    baseline = {"backbone": "gru", "label_fraction": 0.1, BASELINE_OF_KEY: "run-a"}
    assert run_label(baseline, ["backbone", "lr"], named) == "supervised gru 0.1 labels for gru lr1e-3 #4"
    assert run_label(baseline, ["backbone", "lr"]) == "supervised gru 0.1 labels"
