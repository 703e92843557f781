"""One sweep across SSL methods (``methods:``): each method with its own searched and fixed hyperparameters beside the
shared ones, validated per method before Ray starts, sampled method first (a conditional space), each trial running
as its method's own single-method sweep (end to end, with supervised baselines: tests/test_sweep_e2e.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
import yaml
from asking import suggested
from before_ray import refused, tune_cli  # noqa: F401  (fixtures; refused uses tune_cli)

from trainables.records.results import TRIAL_NUMBER_KEY
from trainables.searchspace import METHOD_PARAM, SweepSpec
from trainables.sweep.searcher import OptunaStudySearcher, method_rotation, optuna_sampler

ROOT = Path(__file__).resolve().parents[1]
BASIC = {"source": "aeon", "name": "BasicMotions"}
METHODS = {
    "barlow_twins": {"search": {"lambda_offdiag": {"type": "float", "low": 0.001, "high": 0.01, "log": True}}},
    "vicreg": {"fixed": {"sim_coeff": 25.0}, "search": {"cov_coeff": {"type": "float", "low": 0.5, "high": 2.0}}},
    "cpc": {"search": {"prediction_steps": {"type": "int", "low": 2, "high": 4}}},
}


def _sweep(**fields) -> dict:
    return {
        "name": "across",
        "methods": METHODS,
        "data": {"pretext": BASIC, "downstream": BASIC, "window": {"length": 50, "overlap": 0.5}},
        "search": {
            "backbone": {"type": "categorical", "choices": ["conv1d", "gru"]},
            "lr": {"type": "float", "low": 3e-4, "high": 3e-3, "log": True},
        },
        "fixed": {"batch_size": 32},
        "objective": {"metric": "val/knn/acc/frac_1.0"},
        **fields,
    }


def _refusal(**kwargs) -> str:
    with pytest.raises(ValueError) as error:
        SweepSpec.model_validate(_sweep(**kwargs))
    return str(error.value)


def test_each_method_is_its_own_sweep_with_the_shared_and_its_own_hyperparameters():
    spec = SweepSpec.model_validate(_sweep())
    assert spec.method is None and spec.method_names == ["barlow_twins", "vicreg", "cpc"]
    assert spec.searched_names() == [METHOD_PARAM, "backbone", "lr", "lambda_offdiag", "cov_coeff", "prediction_steps"]
    vicreg = spec.for_method("vicreg")
    assert vicreg.method == "vicreg" and vicreg.methods is None
    assert list(vicreg.search) == ["backbone", "lr", "cov_coeff"]
    assert vicreg.fixed == {"batch_size": 32, "sim_coeff": 25.0}
    # A trial's hyperparameters: what it drew, over its method's fixed values and defaults; the method named apart.
    trial_spec, params = spec.for_trial({METHOD_PARAM: "vicreg", "backbone": "gru", "lr": 1e-3, "cov_coeff": 1.5})
    assert trial_spec.method == "vicreg" and METHOD_PARAM not in params
    assert params["sim_coeff"] == 25.0 and params["cov_coeff"] == 1.5 and params["batch_size"] == 32
    assert params["backbone"] == "gru" and "lambda_offdiag" not in params
    # The shared defaults only: each method's own come with its trials.
    assert "sim_coeff" not in spec.default_params() and spec.default_params()["batch_size"] == 32
    # One method per sweep keeps working unchanged.
    single = SweepSpec.model_validate({**_sweep(), "methods": None, "method": "vicreg"})
    assert single.method_specs() == {"vicreg": single} and single.for_trial({"lr": 1e-3})[0] is single


@pytest.mark.parametrize(
    "change, message",
    [
        ({"method": "vicreg"}, "method and methods both given"),
        ({"methods": None}, "name the method: method: <name> for one, or methods:"),
        ({"methods": {}}, "methods is empty"),
        ({"methods": {"barlow_twins": {}, "no_such": {}}}, "no_such"),
        (
            {
                "methods": {
                    **METHODS,
                    "vicreg": {"search": {"lambda_offdiag": {"type": "float", "low": 0.1, "high": 1}}},
                }
            },
            "methods.vicreg: 'lambda_offdiag' is not a parameter of vicreg; its own parameters: ",
        ),
        (
            {"methods": {**METHODS, "cpc": {"fixed": {"lr": 0.01}}}},
            "methods.cpc: 'lr' is also a shared hyperparameter; keep one",
        ),
        (
            {"fixed": {"batch_size": 32, "projector_dim": 256}},
            "methods.cpc: 'projector_dim' does nothing: cpc has no shared projector",
        ),
        (
            {"objective": {"metric": "train/loss", "mode": "min"}},
            "objective.metric 'train/loss' is each method's own loss, not comparable across methods",
        ),
        ({"sampler": "grid"}, "sampler grid searches one method's grid"),
        ({"fixed": {"batch_size": 32, METHOD_PARAM: "cpc"}}, "'method' is chosen by the search across methods"),
    ],
)
def test_a_sweep_across_methods_refuses_what_no_single_method_would_take(change, message):
    assert message in _refusal(**change)


def test_a_method_of_another_domain_is_refused_by_name():
    images = {"pretext": {"source": "digits"}, "downstream": {"source": "digits"}}
    text = _refusal(methods={"simclr": {}, "tnc": {}}, data=images, search={}, objective={})
    assert "error, methods.tnc: method 'tnc' trains on time series, but data digits is images [" in text, text


def test_the_method_is_drawn_first_and_only_its_own_parameters_after_it():
    spec = SweepSpec.model_validate(_sweep())
    own = {name: set(choice.search) for name, choice in spec.methods.items()}
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna_sampler(spec.sampler.model_copy(update={"startup_trials": 5}), 0, conditional=True),
    )
    drawn = set()
    for _ in range(24):  # past TPE's start-up: its joint, grouped model draws the later ones
        trial = study.ask()
        params = spec.suggest(trial)
        method = params[METHOD_PARAM]
        drawn.add(method)
        assert set(params) == {METHOD_PARAM, "backbone", "lr", *own[method]}, params
        assert set(trial.params) == set(params)  # Optuna holds exactly the drawn point
        study.tell(trial, {"barlow_twins": 0.9, "vicreg": 0.6, "cpc": 0.3}[method] + params["lr"])
    assert drawn == set(spec.methods)


@pytest.mark.parametrize("backbone", ["conv1d", "gru"])
def test_every_method_scores_against_the_same_untrained_backbone(backbone):
    """The untrained baseline of a row is the trial's backbone as built, copied before training (worker.py): the
    backbone is built before a method's own modules, so at one seed every method of a sweep starts from, and is
    compared with, the same network (trials differ in their untrained scores only through shared parameters
    such as the window length)."""
    from selfsup.methods import METHODS
    from selfsup.methods.base import DataShape
    from selfsup.pretrain import build_method
    from trainables.searchspace.sweep_spec import split_trial_params

    shape = DataShape(n_channels=3, window_length=48, n_classes=4, height=None)
    weights = {}
    for name in METHODS.names():
        if "timeseries" not in METHODS.get(name).domains:
            continue
        torch.manual_seed(0)
        shared, own = split_trial_params(name, {"backbone": backbone}, "timeseries")
        weights[name] = [p.detach().clone() for p in build_method(name, shared, own, shape).backbone.parameters()]
    first = weights.pop("barlow_twins")
    assert len(weights) >= 10
    for name, theirs in weights.items():
        assert len(theirs) == len(first) and all(torch.equal(a, b) for a, b in zip(first, theirs)), name


def test_each_methods_own_data_checks_run_before_ray(tmp_path):
    """CPC's horizon against the latent length of every backbone on the windows: named after its method, exit 2,
    nothing started."""
    steps = {"search": {"prediction_steps": {"type": "int", "low": 2, "high": 400}}}
    path = tmp_path / "across.yaml"
    path.write_text(yaml.safe_dump(_sweep(methods={**METHODS, "cpc": steps}), sort_keys=False))
    run = subprocess.run([sys.executable, "tune.py", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stdout == "", run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: methods.cpc: ") and "400" in lines[0], lines


def test_the_dry_run_prints_the_space_per_method(tmp_path):
    path = tmp_path / "across.yaml"
    path.write_text(yaml.safe_dump(_sweep(budget={"trials": 12, "epochs": 2}), sort_keys=False))
    run = subprocess.run(
        [sys.executable, "tune.py", str(path), "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert "sweep      across: methods barlow_twins, vicreg, cpc, seed 0" in run.stdout
    assert "search     Optuna TPE (10 random start-up trials;" in run.stdout  # Optuna's default: none set
    assert "  method                 categorical ['barlow_twins', 'vicreg', 'cpc'], drawn first" in run.stdout
    assert "    vicreg               cov_coeff float [0.5, 2]; sim_coeff = 25.0 (fixed)\n" in run.stdout
    turns = run.stdout.split("(the start-up trials take each in turn: ", 1)[1].split(")", 1)[0].split(", ")
    assert len(turns) == 10 and sorted(turns[:3]) == sorted(METHODS) and turns[3:6] == turns[:3]  # TPE's 10
    assert "12 trials x up to 2 epochs" in run.stdout and "about 4 trials per method" in run.stdout


def test_repeats_of_trials_of_two_methods_run_as_experiments_of_points_that_set_the_same_keys():
    """``final.repeats`` of the top trials of a sweep across methods: each method's trials set their own parameters,
    and Tune's space must hold every key a point sets and only those, so each set of keys is an experiment."""
    from ray import tune

    from trainables.sweep.driver import _same_keys, _space_of

    vicreg = [{"method": "vicreg", "lr": lr, "cov_coeff": 1.0, "sslsweep_training_seed": 1} for lr in (0.1, 0.3)]
    moco = [{"method": "moco", "lr": 0.2, "temperature": 0.2, "sslsweep_training_seed": 1}]
    groups = _same_keys([vicreg[0], moco[0], vicreg[1]])
    assert groups == [vicreg, moco]
    space = _space_of(vicreg)
    assert space["method"] == "vicreg" and space["cov_coeff"] == 1.0 and "temperature" not in space
    assert isinstance(space["lr"], tune.search.sample.Categorical) and space["lr"].categories == [0.1, 0.3]


def test_tpes_start_up_trials_take_every_method_in_turn_and_random_search_does_not():
    spec = SweepSpec.model_validate(_sweep(sampler={"type": "tpe", "startup_trials": 6}, budget={"trials": 4}))
    first = method_rotation(list(spec.methods), spec.sampler, spec.seed, spec.budget.trials)
    assert len(first) == 4 and sorted(p[METHOD_PARAM] for p in first[:3]) == sorted(spec.methods)
    assert first[3] == first[0]
    assert method_rotation(list(spec.methods), spec.sampler, seed=1, trials=3) != first[:3]  # the order is seeded

    searcher = OptunaStudySearcher(
        space={}, define=spec.suggest, first=first, metric="m", mode="max", study_name="rotation",
        storage=optuna.storages.InMemoryStorage(), sampler=optuna_sampler(spec.sampler, spec.seed, conditional=True),
    )  # fmt: skip
    own = {name: set(choice.search) for name, choice in spec.methods.items()}
    for number, point in enumerate(first):
        config = suggested(searcher, str(number))
        assert config[METHOD_PARAM] == point[METHOD_PARAM]
        assert set(config) - {TRIAL_NUMBER_KEY} == {METHOD_PARAM, "backbone", "lr", *own[config[METHOD_PARAM]]}

    random = SweepSpec.model_validate(_sweep(sampler="random")).sampler
    assert method_rotation(list(spec.methods), random, seed=0, trials=12) == []
