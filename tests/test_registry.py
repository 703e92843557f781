"""The MLflow Model Registry (trainables/sweep/registry.py): every sweep's selected backbone is a new version of
sslsweep-<method>-<backbone>-<downstream data>; the alias champion moves only to a version strictly better on the
same objective. Against real sqlite stores: registered with the real helper, and after a real tiny sweep."""

from __future__ import annotations

import json
import time

import mlflow
import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from report_store import HOSTILE, HOSTILE_VALUE
from sweeps import sweep_parent
from torch import nn

from trainables.records.tags import DECISION_TAG, DOWNSTREAM_DATA_TAG
from trainables.sweep.registry import (
    BEST_FOR_DATA_ALIAS,
    CHAMPION_ALIAS,
    TIE_TOLERANCE,
    champion_decision,
    crown_best_for_data,
    register_backbone,
    registered_model_name,
)


@pytest.fixture
def tracking_uri():
    """Put back MLflow's global tracking URI that a test sets (as the lines in docs/guide/results.md do)."""
    previous = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(previous)


def _store_with_a_run(tmp_path) -> tuple[str, MlflowClient, str]:
    """A sqlite store with one ended run to register models of: its URI, a client and the run's id."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("sslsweep/registry", artifact_location=str(tmp_path / "artifacts"))
    run_id = client.create_run(experiment).info.run_id
    client.set_terminated(run_id)
    return uri, client, run_id


class _TinyEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=-1)


def test_registered_model_names_keep_mlflow_characters():
    assert (
        registered_model_name("barlow_twins", "conv1d", "BasicMotions") == "sslsweep-barlow_twins-conv1d-BasicMotions"
    )
    assert (
        registered_model_name("simclr", "resnet18", "data/my logs:v2@x") == "sslsweep-simclr-resnet18-data-my-logs-v2-x"
    )


def test_champion_moves_only_when_strictly_better_on_the_same_objective(tmp_path, tracking_uri):
    uri, client, run_id = _store_with_a_run(tmp_path)
    torch.manual_seed(0)
    example = np.random.default_rng(0).normal(size=(2, 3, 8)).astype(np.float32)
    name = registered_model_name("barlow_twins", "tiny", "toy")

    def register(value: float, objective: str = "val/linear/acc/frac_1.0", mode: str = "max"):
        return register_backbone(
            uri,
            _TinyEncoder(),
            example,
            name=name,
            run_id=run_id,
            objective=objective,
            mode=mode,
            value=value,
            tags={"sslsweep.sweep": "toy"},
            config_files={"trial_params.json": json.dumps({"lr": 0.001})},
        )

    def champion() -> str:
        return str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version)

    started = time.perf_counter()
    first = register(0.80)
    assert first.champion and champion() == first.version == "1"
    assert [register(0.70).champion, champion()] == [False, "1"]  # worse
    assert [register(0.80).champion, champion()] == [False, "1"]  # equal
    assert [register(0.80 + TIE_TOLERANCE / 10).champion, champion()] == [False, "1"]  # a tie-break offset
    other = register(0.99, objective="cv/linear/f1/frac_0.1")  # another metric
    assert not other.champion and champion() == "1"
    assert "not comparable" in client.get_model_version(name, other.version).tags[DECISION_TAG]
    better = register(0.85)
    assert better.champion and champion() == better.version == "6"
    print(f"6 registrations: {time.perf_counter() - started:.1f} s")

    # Every sweep's version stays (history), with its objective, decision and configuration.
    versions = {str(v.version): v for v in client.search_model_versions(f"name = '{name}'")}
    assert sorted(versions, key=int) == ["1", "2", "3", "4", "5", "6"]
    champion_version = client.get_model_version(name, "6")
    assert champion_version.tags["sslsweep.objective_value"] == repr(0.85)
    assert champion_version.tags[DECISION_TAG].startswith("champion: val/linear/acc/frac_1.0 0.85 beats")
    assert client.get_model_version(name, "1").tags["sslsweep.superseded_by_version"] == "6"
    # The Models page shows a model's first three tags: the first names its champion and that one's score.
    model_tags = client.search_registered_models(f"name = '{name}'")[0].tags
    assert list(model_tags)[0] == "sslsweep.champion" and model_tags["sslsweep.champion"] == (
        "v6 · val/linear/acc/frac_1.0 0.85"
    )
    # Logged in the run's experiment (its artifact location), with a signature whose batch size is free.
    logged = client.get_logged_model(champion_version.model_id or champion_version.source.removeprefix("models:/"))
    assert logged.experiment_id == client.get_run(run_id).info.experiment_id and logged.source_run_id == run_id
    assert str(tmp_path / "artifacts") in logged.artifact_location
    mlflow.set_tracking_uri(uri)
    signature = mlflow.models.get_model_info(f"models:/{name}@{CHAMPION_ALIAS}").signature
    assert signature.inputs.inputs[0].shape == (-1, 3, 8) and signature.outputs.inputs[0].shape == (-1, 4)
    loaded = mlflow.pytorch.load_model(f"models:/{name}@{CHAMPION_ALIAS}")
    assert tuple(loaded(torch.zeros(5, 3, 8)).shape) == (5, 4)


def test_a_version_description_with_markup_is_text_in_mlflows_markdown(tmp_path, tracking_uri):
    """The description register_sweep_backbone writes names the sweep and its values; MLflow's UI renders it as
    Markdown, so markup there is escaped (the registered model's own description keeps its plain text)."""
    uri, client, run_id = _store_with_a_run(tmp_path)
    example = np.random.default_rng(0).normal(size=(2, 3, 8)).astype(np.float32)
    name = registered_model_name("simclr", "tiny_conv", "toy")
    registration = register_backbone(
        uri,
        _TinyEncoder(),
        example,
        name=name,
        run_id=run_id,
        objective="val/linear/acc/frac_1.0",
        mode="max",
        value=0.5,
        description=f"simclr / {HOSTILE_VALUE} pretrained on toy; sweep '{HOSTILE}'.",
    )
    description = client.get_model_version(name, registration.version).description
    assert (
        "<img" not in description and "\n" not in description and "](javascript" not in description.replace(r"\](", "")
    )
    assert description == (
        r"simclr / &lt;img src=x onerror=alert(1)&gt;\|conv row pretrained on toy; sweep "
        r"'&lt;img src=x onerror=alert(1)&gt;\|\[x\](javascript:alert(1))'."
    )
    assert client.get_registered_model(name).description.endswith(
        "mlflow.pytorch.load_model('models:/sslsweep-simclr-tiny_conv-toy@champion')."
    )


def test_best_for_data_is_the_best_champion_of_the_data_on_the_same_objective(tmp_path, tracking_uri):
    """Beside each model's champion, one alias per data set names the method and backbone to take: the champion
    with the best value among the models of that data selected on the same objective; a tie keeps the holder."""
    uri, client, run_id = _store_with_a_run(tmp_path)
    example = np.random.default_rng(0).normal(size=(2, 3, 8)).astype(np.float32)
    objective = "val/linear/acc/frac_1.0"

    def register(method, value, data="toy", metric=objective):
        name = registered_model_name(method, "tiny_conv", data)
        register_backbone(
            uri,
            _TinyEncoder(),
            example,
            name=name,
            run_id=run_id,
            objective=metric,
            mode="max",
            value=value,
            tags={DOWNSTREAM_DATA_TAG: data},
            model_name=f"{method}-tiny_conv",
        )
        return name

    def holders():
        return {m.name: m.aliases.get(BEST_FOR_DATA_ALIAS) for m in client.search_registered_models()}

    simclr, vicreg = register("simclr", 0.5), register("vicreg", 0.7)
    other_objective, other_data = register("byol", 0.9, metric="val/knn/acc/frac_1.0"), register("moco", 0.95, "other")
    assert crown_best_for_data(client, "toy", objective, "max") == vicreg
    assert {name for name, version in holders().items() if version} == {vicreg}
    register("simclr", 0.8)  # simclr's champion moves to version 2, which beats vicreg
    assert crown_best_for_data(client, "toy", objective, "max") == simclr
    assert holders() == {simclr: 2, vicreg: None, other_objective: None, other_data: None}
    register("vicreg", 0.8)  # vicreg's version 2 is champion of its model, but only ties simclr's
    assert crown_best_for_data(client, "toy", objective, "max") == simclr
    version = client.get_model_version(simclr, "2")
    assert (
        client.get_logged_model(version.model_id or version.source.removeprefix("models:/")).name == "simclr-tiny_conv"
    )


def test_champion_decision_in_min_mode_and_without_a_recorded_value():
    tags = {"sslsweep.objective": "train/loss", "sslsweep.objective_mode": "min", "sslsweep.objective_value": "1.0"}
    assert champion_decision("train/loss", "min", 0.9, "3", tags)[0]
    assert not champion_decision("train/loss", "min", 1.1, "3", tags)[0]
    assert not champion_decision("train/loss", "max", 2.0, "3", tags)[0]  # same metric, other mode
    assert not champion_decision("train/loss", "min", 0.1, "3", {**tags, "sslsweep.objective_value": "nan"})[0]
    assert champion_decision("train/loss", "min", 5.0, None, {})[0]


@pytest.mark.slow
def test_sweep_registers_its_selected_backbone_as_champion(ties_sweep, tmp_path, tracking_uri):
    """The registry after a real sweep (conftest.py's ``ties_sweep``, which tests/test_sweep_e2e.py also reads):
    the trial validation selected, not one of its repeats, is version 1 and champion."""
    path, home, run = ties_sweep
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "not registered" not in run.stderr, run.stderr[-3000:]
    client, parent = sweep_parent(home, "e2e-ties")
    name = "sslsweep-barlow_twins-conv1d-BasicMotions"
    champion = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    assert str(champion.version) == "1" and CHAMPION_ALIAS in champion.aliases
    tags = champion.tags
    assert tags["sslsweep.trial_run_id"] == parent.data.tags["sslsweep.best_run_id"]
    assert tags["sslsweep.parent_run_id"] == parent.info.run_id and tags["sslsweep.sweep"] == "e2e-ties"
    assert tags["sslsweep.objective"] == "val/knn/acc/frac_1.0" and tags["sslsweep.objective_mode"] == "max"
    best = client.get_run(tags["sslsweep.trial_run_id"])
    assert float(tags["sslsweep.objective_value"]) == best.data.metrics["val/knn/acc/frac_1.0"]
    assert json.loads(tags["sslsweep.params"])["lr"] == pytest.approx(float(best.data.params["lr"]))
    # How good it is, on the Models page: its scores and gains, links to its run and sweep, and the alias that
    # names the best model for the data; the logged model is named after method and backbone.
    description = champion.description
    assert "Test: " in description and "kNN acc, 100 % labels " in description
    assert "linear acc, 50 % labels " in description and "; over 40 test series: one is 2.5 points" in description
    assert "(untrained " in description and ", gain " in description
    assert f"Trial {best.info.run_name} of sweep 'e2e-ties'." in description
    experiment = parent.info.experiment_id
    assert f"[trial run](#/experiments/{experiment}/runs/{best.info.run_id})" in description
    assert f"[sweep](#/experiments/{experiment}/runs/{parent.info.run_id})" in description
    assert client.get_registered_model(name).aliases == {CHAMPION_ALIAS: 1, BEST_FOR_DATA_ALIAS: 1}

    # The three lines of docs/guide/results.md, on raw windows of BasicMotions' test series (as aeon gives them, not standardised):
    # the model standardises them with the sweep's training statistics, so it embeds them exactly as the trial's
    # evaluation embedded the prepared windows.
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    info = mlflow.models.get_model_info(f"models:/{name}@{CHAMPION_ALIAS}")
    assert info.signature is not None and info.signature.inputs.inputs[0].shape == (-1, 6, 50)
    from selfsup.data.timeseries.prepare import load_splits
    from selfsup.data.timeseries.sliding_windows import sliding_windows
    from trainables.searchspace import load_sweep
    from trainables.sweep.registry import backbone_weights, trained_backbone
    from trainables.trial.data_cache import data_request, prepare_requested

    spec = load_sweep(path)
    params = json.loads(tags["sslsweep.params"])
    prepared = prepare_requested(data_request(spec, params))
    window = spec.data.window
    raw = sliding_windows(load_splits(spec.data.downstream)["test"], window.length, window.overlap).x[:7]
    assert np.abs(raw - prepared.test.x[:7]).max() > 0.1  # really not standardised

    encoder = mlflow.pytorch.load_model(f"models:/{name}@champion")
    embeddings = encoder(torch.as_tensor(raw, dtype=torch.float32))
    assert tuple(embeddings.shape) == (7, int(tags["sslsweep.embedding_dim"]))
    trained = trained_backbone(
        spec,
        params,
        prepared,
        backbone_weights({"tags.sslsweep.checkpoint_path": best.data.tags["sslsweep.checkpoint_path"]}),
    )
    with torch.no_grad():
        expected = trained(torch.as_tensor(prepared.test.x[:7]))
    assert embeddings.detach().numpy() == pytest.approx(expected.numpy(), abs=1e-4)
    # The configuration that produced it travels with the model.
    model_dir = mlflow.artifacts.download_artifacts(f"models:/{name}@{CHAMPION_ALIAS}", dst_path=str(tmp_path / "m"))
    extra = tmp_path / "m" / "extra_files"
    assert {p.name for p in extra.iterdir()} == {
        "searchspace.yaml",
        "sweep_spec.json",
        "trial_params.json",
        "input_standardisation.json",
    }, model_dir
    assert json.loads((extra / "trial_params.json").read_text()) == json.loads(tags["sslsweep.params"])
    assert "e2e-ties" in (extra / "searchspace.yaml").read_text()
