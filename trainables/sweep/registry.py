"""The best backbones in the MLflow Model Registry: one registered model per (method, backbone, downstream data),
its alias ``champion`` on the best version so far.

At the end of every sweep (``sweep.run_sweep``, after the report) the trial the report selects on validation for
each backbone (``report.tables.select``: finished search trials only, never final repeats or supervised
baselines) is rebuilt in the driver with the library's own builder (``selfsup.pretrain.build_method`` for the
trial's hyperparameters and data shape), given the weights of its last checkpoint (``backbone.pt``), wrapped as
evaluation saw it (``Domain.evaluation_model``: images are resized to the trial's ``input_size``) and logged with
``mlflow.pytorch.log_model`` as a model of the trial's run, registered as a new version of
``sslsweep-<method>-<backbone>-<downstream data>``.

The model is saved in MLflow's ``pt2`` format (``torch.export``: no pickle, no ``selfsup`` import needed to load
it), with a signature inferred from two examples of the sweep's validation data (batch size free, the other
dimensions those of the sweep's windows, images or patches) and their embeddings. The model takes raw inputs, as
the data source gives them (``sslsweep.input_shape``): where the sweep standardised its data (time series per
channel, seismic amplitudes), the model does the same first, with the sweep's training statistics
(``StandardisedInputs``; ``extra_files/input_standardisation.json``). With it go the configuration that
produced it (``extra_files/``: the search-space file as logged, the validated sweep spec with every default, the
trial's hyperparameters) and version tags naming the sweep, its parent run, the trial's run, the objective, its
mode and value, and the hyperparameters.

Which version is ``champion`` (``champion_decision``): every sweep's selected backbone becomes a new version (the
history stays), but the alias moves only to a version that beats the champion on the same objective metric and
mode by more than ``TIE_TOLERANCE`` (strictly better; a tie keeps the champion). A version selected on another
metric is not comparable: the champion stays and the new version's tag ``sslsweep.champion_decision`` says why
(move the alias by hand in the UI to choose otherwise). The first version of a name is champion.

Which model to take for a data set (``crown_best_for_data``): among the registered models of one downstream data
set, the alias ``best-for-data`` sits on the champion with the best objective value, on the objective and mode the
latest sweep selected on. Each version's description says how good it is (its objective, its test scores beside
the same backbone untrained, links to its run and its sweep); the logged model is named ``<method>-<backbone>``.

A backbone that cannot be registered (no checkpoint on a filesystem the driver reads, an export error, an
unreachable registry) is a warning on stderr; the sweep and its results are unaffected.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import mlflow
import numpy as np
import torch
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from torch import nn

from selfsup.data.prepared import PreparedData
from selfsup.pretrain import build_method, data_shape
from trainables.records.selection import TIE_BREAK_STEP
from trainables.records.tags import (
    BACKBONE_TAG,
    CHAMPION_TAG,
    CHECKPOINT_TAG,
    DECISION_TAG,
    DOMAIN_TAG,
    DOWNSTREAM_DATA_TAG,
    EMBEDDING_DIM_TAG,
    INPUT_SHAPE_TAG,
    INPUT_STANDARDISATION_TAG,
    METHOD_TAG,
    OBJECTIVE_MODE_TAG,
    OBJECTIVE_TAG,
    OBJECTIVE_VALUE_TAG,
    PARAMS_TAG,
    PARENT_RUN_TAG,
    PRETEXT_DATA_TAG,
    RUN_NAME_TAG,
    SCORES_TAG,
    SERIES_LENGTH_TAG,
    SUPERSEDED_TAG,
    SWEEP_TAG,
    TRIAL_ID_TAG,
    TRIAL_RUN_TAG,
    tag_column,
)
from trainables.report.markdown import markdown_text
from trainables.report.sweep_answer import headline_gain, score_rows
from trainables.report.tables import METRIC_LABELS, Selected, select
from trainables.report.tables._table import percent
from trainables.searchspace import SweepSpec, split_trial_params
from trainables.tracking.runs import SweepRuns, tracking_uri_set_to
from trainables.tracking.ui_links import run_link

CHAMPION_ALIAS = "champion"
# On the one champion, among every registered model of the same downstream data, with the best objective value
# (same objective metric and mode): which method and backbone to take for that data, on the Models page.
BEST_FOR_DATA_ALIAS = "best-for-data"
MODEL_NAME_PREFIX = "sslsweep"
BACKBONE_FILE = "backbone.pt"  # what ``worker._save_checkpoint`` writes for users
# A challenger must beat the champion by more than this: versions registered before MLflow recorded objectives as
# evaluated carry a tie-break offset of TIE_BREAK_STEP per trial number (selection.py), which must not decide
# between two sweeps' equal scores.
TIE_TOLERANCE = TIE_BREAK_STEP * 10_000
EXAMPLE_BATCH = 2  # > 1, so that torch.export keeps the batch dimension free
# Version tags also set on the registered model when a sweep creates it (filters in the UI).
MODEL_TAGS = (METHOD_TAG, BACKBONE_TAG, DOWNSTREAM_DATA_TAG, DOMAIN_TAG)


@dataclass(frozen=True)
class Registration:
    """One model version a sweep registered, and whether it holds the alias ``champion`` now."""

    name: str
    version: str
    champion: bool
    decision: str  # the version's tag sslsweep.champion_decision

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.name}@{CHAMPION_ALIAS}"


def registered_model_name(method: str, backbone: str, downstream: str) -> str:
    """``sslsweep-<method>-<backbone>-<downstream data>`` with every character outside ``[A-Za-z0-9_.-]`` (MLflow
    forbids ``/`` and ``:``, ``@`` would end the name in a ``models:/name@alias`` URI) replaced by ``-``."""
    raw = "-".join([MODEL_NAME_PREFIX, method, backbone, downstream])
    name = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9_.-]+", "-", raw)).strip("-.")
    if not name:
        raise ValueError(f"no usable registered model name in {raw!r}")
    return name


def champion_decision(
    objective: str, mode: str, value: float, champion_version: str | None, champion_tags: Mapping[str, str]
) -> tuple[bool, str]:
    """Whether a new version selected on ``objective`` (``mode``) with ``value`` takes the alias from the champion
    (``champion_version`` with ``champion_tags``; None when the name has none), and why, in one line."""
    if champion_version is None:
        return True, "champion: no champion before"
    old_objective, old_mode = champion_tags.get(OBJECTIVE_TAG), champion_tags.get(OBJECTIVE_MODE_TAG)
    if (old_objective, old_mode) != (objective, mode):
        return False, (
            f"not champion: selected on {objective} ({mode}) but champion version {champion_version} "
            f"on {old_objective or 'an unrecorded objective'} ({old_mode or '?'}): not comparable; "
            f"move the alias by hand to prefer this version"
        )
    try:
        old_value = float(champion_tags[OBJECTIVE_VALUE_TAG])
    except (KeyError, ValueError):
        old_value = float("nan")
    if not math.isfinite(old_value):
        return False, (
            f"not champion: champion version {champion_version} records no finite {OBJECTIVE_VALUE_TAG}: not comparable"
        )
    if not math.isfinite(value):
        return False, f"not champion: {objective} is {value}"
    margin = value - old_value if mode == "max" else old_value - value
    if margin > TIE_TOLERANCE:
        return True, (
            f"champion: {objective} {value:.6g} beats champion version {champion_version}'s {old_value:.6g} ({mode})"
        )
    return False, (
        f"not champion: {objective} {value:.6g} does not beat champion version {champion_version}'s "
        f"{old_value:.6g} ({mode}; a tie keeps the champion)"
    )


def register_backbone(
    tracking_uri: str,
    model: nn.Module,
    example: np.ndarray,
    *,
    name: str,
    run_id: str,
    objective: str,
    mode: str,
    value: float,
    tags: Mapping[str, str] | None = None,
    config_files: Mapping[str, str] | None = None,
    description: str = "",
    links: Mapping[str, str] | None = None,
    model_name: str = "backbone",
) -> Registration:
    """Log ``model`` (an embedding module in eval mode) as a model of run ``run_id``, register it as a new version
    of ``name`` and move the alias ``champion`` to it if it wins (``champion_decision``).

    ``example``: a float32 batch of at least two inputs of the data's shape (the signature and input example).
    ``tags``: further version tags; ``config_files``: file name -> text, saved with the model in ``extra_files/``.
    ``description``: plain text for the version's description, which MLflow's UI renders as Markdown: escaped
    (``markdown_text``), so a sweep name or parameter value in it stays text; ``links`` (label -> a link sslsweep
    made, e.g. ``tracking.ui_links.run_link``) follow it as Markdown links. ``model_name``: the logged model's name
    (MLflow's Models tab of the run) and its artifact path.
    """
    client = MlflowClient(tracking_uri)
    experiment_id = client.get_run(run_id).info.experiment_id
    model = model.eval()
    example = np.ascontiguousarray(example, dtype=np.float32)
    with torch.no_grad():
        embeddings = model(torch.from_numpy(example)).cpu().numpy()
    signature = infer_signature(example, embeddings)
    version_tags = {
        **(tags or {}),
        OBJECTIVE_TAG: objective,
        OBJECTIVE_MODE_TAG: mode,
        OBJECTIVE_VALUE_TAG: repr(float(value)),
        INPUT_SHAPE_TAG: json.dumps([-1, *example.shape[1:]]),
        EMBEDDING_DIM_TAG: str(embeddings.shape[-1]),
    }
    # The logged model is created here, in the run's experiment: left to MLflow (no active run) it would go to
    # the Default experiment, whose artifacts sqlite stores keep in ./mlruns of the working directory.
    logged = client.create_logged_model(
        experiment_id,
        name=model_name,
        source_run_id=run_id,
        tags=version_tags,
        params={key: str(v) for key, v in client.get_run(run_id).data.params.items()},
    )
    with tempfile.TemporaryDirectory(prefix="sslsweep-registry-") as directory, tracking_uri_set_to(tracking_uri):
        extra_files = []
        for file_name, text in (config_files or {}).items():
            path = Path(directory, file_name)
            path.write_text(text)
            extra_files.append(str(path))
        with warnings.catch_warnings(), _without_registration_notices():
            # nn.GRU re-assigns its list of flat weights in forward; the exported graph reads the parameters.
            warnings.filterwarnings("ignore", message=r"The tensor attributes .* were assigned during export")
            info = mlflow.pytorch.log_model(
                model,
                name=model_name,
                model_id=logged.model_id,
                run_id=run_id,
                signature=signature,
                input_example=example,
                serialization_format="pt2",
                extra_files=extra_files or None,
                pip_requirements=[f"mlflow=={mlflow.__version__}", f"torch=={torch.__version__.split('+')[0]}"],
                registered_model_name=name,
                tags=version_tags,
                await_registration_for=60,
            )
    version = str(info.registered_model_version)
    model_tags = {key: version_tags[key] for key in MODEL_TAGS if key in version_tags}
    _describe_registered_model(client, name, {CHAMPION_TAG: _champion_text(version, version_tags), **model_tags})
    if description or links:
        linked = " · ".join(f"[{markdown_text(label)}]({href})" for label, href in (links or {}).items())
        client.update_model_version(name, version, " ".join(filter(None, (markdown_text(description), linked))))
    return _decide(client, name, version, objective, mode, float(value), version_tags)


@contextlib.contextmanager
def _without_registration_notices():
    """MLflow's "Successfully registered model ..." and "Created version ..." lines left out of stderr (the sweep's
    summary lists each registration with its decision); whatever else MLflow writes there still shows."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    finally:
        notices = ("Successfully registered model", "Created version")
        kept = [line for line in captured.getvalue().splitlines(keepends=True) if not line.startswith(notices)]
        sys.stderr.write("".join(kept))


def _describe_registered_model(client: MlflowClient, name: str, tags: Mapping[str, str]) -> None:
    """A description and filterable tags on a registered model the first sweep created."""
    if client.get_registered_model(name).description:
        return
    client.update_registered_model(
        name,
        description=markdown_text(
            f"The sslsweep backbones of one method, backbone and downstream data, one version per sweep; alias "
            f"'{CHAMPION_ALIAS}': the best on its objective. Load it with "
            f"mlflow.pytorch.load_model('models:/{name}@{CHAMPION_ALIAS}')."
        ),
    )
    for key, value in tags.items():
        client.set_registered_model_tag(name, key, value)


def _champion_text(version: str, version_tags: Mapping[str, str]) -> str:
    """``CHAMPION_TAG``'s value: "v3 · <the version's scores>"."""
    scores = version_tags.get(SCORES_TAG)
    if not scores:
        scores = f"{version_tags[OBJECTIVE_TAG]} {float(version_tags[OBJECTIVE_VALUE_TAG]):.4g}"
    return f"v{version} · {scores}"


def _decide(
    client: MlflowClient,
    name: str,
    version: str,
    objective: str,
    mode: str,
    value: float,
    version_tags: Mapping[str, str],
) -> Registration:
    champion = client.get_registered_model(name).aliases.get(CHAMPION_ALIAS)
    champion = None if champion is None else str(champion)
    champion_tags = client.get_model_version(name, champion).tags if champion is not None else {}
    promote, decision = champion_decision(objective, mode, value, champion, champion_tags)
    client.set_model_version_tag(name, version, DECISION_TAG, decision)
    if promote:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
        client.set_registered_model_tag(name, CHAMPION_TAG, _champion_text(version, version_tags))
        if champion is not None:
            client.set_model_version_tag(name, champion, SUPERSEDED_TAG, version)
    return Registration(name, version, promote, decision)


# ------------------------------------------------------------------------------------------- sweeps


def backbone_weights(run: Mapping[str, Any]) -> Path | None:
    """The ``backbone.pt`` of a child run's last checkpoint (tag ``sslsweep.checkpoint_path``), where the
    driver can read it; None otherwise (e.g. checkpoints in S3)."""
    path = run.get(tag_column(CHECKPOINT_TAG))
    if not isinstance(path, str) or not path:
        return None
    weights = Path(path, BACKBONE_FILE)
    return weights if weights.is_file() else None


def trained_backbone(spec: SweepSpec, params: Mapping[str, Any], data: PreparedData, weights: Path) -> nn.Module:
    """The trial's backbone with the weights in ``weights``, as evaluation called it, in eval mode on the CPU:
    built by the method's own builder for these hyperparameters and this data's shape, so it is exactly the
    module ``backbone.pt`` was saved from, then wrapped by ``Domain.evaluation_model``."""
    spec, params = spec.for_trial(dict(params))  # the trial's method, where the sweep searched several
    shared, own = split_trial_params(str(spec.method), params, spec.domain.name)
    backbone = build_method(str(spec.method), shared, own, data_shape(data)).backbone
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if state.get("backbone", shared.backbone) != shared.backbone:
        raise ValueError(f"{weights} holds a {state['backbone']} backbone, the trial's is {shared.backbone}")
    backbone.load_state_dict(state["state_dict"])
    return spec.domain.evaluation_model(backbone, shared).eval()


def example_batch(data: PreparedData, size: int = EXAMPLE_BATCH) -> np.ndarray:
    """The first ``size`` validation inputs (training inputs where validation has fewer), raw (as loaded), float32."""
    x = np.array((data.validation.x if len(data.validation.x) >= size else data.train.x)[:size], dtype=np.float32)
    if data.input_mean is None:
        return x
    mean, std = (_per_channel(np.asarray(stat, dtype=np.float32), x.ndim) for stat in (data.input_mean, data.input_std))
    return x * std + mean


def _per_channel(statistic, ndim: int):
    """A (channels,) statistic shaped to broadcast over (batch, channels, ...) inputs of ``ndim`` dimensions."""
    return statistic.reshape((1, -1) + (1,) * (ndim - 2))


class StandardisedInputs(nn.Module):
    """``model((x - mean) / std)`` with per-channel statistics (dimension 1): the sweep's own standardisation, so the
    registered model takes inputs as the data source gives them. The statistics are buffers, exported with it."""

    def __init__(self, model: nn.Module, mean: np.ndarray, std: np.ndarray, input_ndim: int) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", _per_channel(torch.tensor(np.asarray(mean), dtype=torch.float32), input_ndim))
        self.register_buffer("std", _per_channel(torch.tensor(np.asarray(std), dtype=torch.float32), input_ndim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def registered_module(model: nn.Module, data: PreparedData) -> nn.Module:
    """The module registered for a trained backbone: raw inputs in (standardised inside where the sweep did)."""
    if data.input_mean is None:
        return model
    return StandardisedInputs(model, data.input_mean, data.input_std, data.validation.x.ndim).eval()


def register_sweep_backbones(
    tracking_uri: str,
    sweep: SweepRuns,
    spec: SweepSpec,
    trial_params: Mapping[str, dict],
    prepared: Callable[[dict], PreparedData],
    selections: list[Selected] | None = None,
) -> list[Registration]:
    """Register the trial the report selects on validation for each backbone of ``sweep`` (see the module
    docstring). ``trial_params``: Tune trial id -> the trial's hyperparameters; ``prepared(params)``: the sweep's
    data for a trial with those hyperparameters; ``selections``: ``select([sweep])`` where the caller has it. Never
    raises: what cannot be registered is a warning."""
    try:
        selections = select([sweep]) if selections is None else selections
    except Exception as error:  # ReportError: the sweep selects on test data, or records no objective
        _warn(f"no backbone of sweep '{sweep.name}' registered in the MLflow Model Registry: {error}")
        return []
    registrations = []
    for selection in selections:
        try:
            registrations.append(_register_selected(tracking_uri, sweep, spec, selection, trial_params, prepared))
        except Exception as error:  # the sweep's results stay whatever the registry says
            _warn(
                f"backbone {selection.backbone} of sweep '{sweep.name}' (run {selection.run['run_id']}) not "
                f"registered in the MLflow Model Registry: {type(error).__name__}: {error}"
            )
    if registrations:
        try:
            downstream = sweep.tags.get(DOWNSTREAM_DATA_TAG) or spec.data.downstream.label()
            crown_best_for_data(MlflowClient(tracking_uri), downstream, sweep.objective, sweep.mode)
        except Exception as error:  # noqa: BLE001 - as above
            _warn(f"alias {BEST_FOR_DATA_ALIAS} not updated: {type(error).__name__}: {error}")
    return registrations


def crown_best_for_data(client: MlflowClient, downstream: str, objective: str, mode: str) -> str | None:
    """Move ``BEST_FOR_DATA_ALIAS`` to the champion version with the best ``objective`` value (``mode``) among the
    registered models of ``downstream`` data whose champions were selected on that objective and mode; the
    holder keeps it on a tie (``TIE_TOLERANCE``). The registered model that holds it, or None."""
    models = client.search_registered_models(f"tags.`{DOWNSTREAM_DATA_TAG}` = '{downstream}'", max_results=1000)
    holder, contenders = None, []
    for model in models:
        if BEST_FOR_DATA_ALIAS in model.aliases:
            holder = model.name
        champion = model.aliases.get(CHAMPION_ALIAS)
        if champion is None:
            continue
        tags = client.get_model_version(model.name, str(champion)).tags
        try:
            value = float(tags.get(OBJECTIVE_VALUE_TAG, "nan"))
        except ValueError:
            continue
        if (tags.get(OBJECTIVE_TAG), tags.get(OBJECTIVE_MODE_TAG)) == (objective, mode) and math.isfinite(value):
            contenders.append((value if mode == "max" else -value, model.name, str(champion)))
    if not contenders:
        return holder
    best_score, best_name, best_version = max(contenders)
    held = next((c for c in contenders if c[1] == holder), None)
    if held is not None and best_score - held[0] <= TIE_TOLERANCE:
        best_name, best_version = held[1], held[2]
    for model in models:
        if BEST_FOR_DATA_ALIAS in model.aliases and model.name != best_name:
            client.delete_registered_model_alias(model.name, BEST_FOR_DATA_ALIAS)
    client.set_registered_model_alias(best_name, BEST_FOR_DATA_ALIAS, best_version)
    return best_name


def _register_selected(
    tracking_uri: str, sweep: SweepRuns, spec: SweepSpec, selection: Selected, trial_params, prepared
) -> Registration:
    run = selection.run
    weights = backbone_weights(run)
    if weights is None:
        raise FileNotFoundError(
            f"no {BACKBONE_FILE} readable here at {CHECKPOINT_TAG} {run.get(tag_column(CHECKPOINT_TAG))!r}"
        )
    trial_id = run[tag_column(TRIAL_ID_TAG)]
    params = trial_params.get(trial_id)
    if params is None:
        raise KeyError(f"Tune returned no hyperparameters for trial {trial_id}")
    data = prepared(params)
    model = registered_module(trained_backbone(spec, params, data, weights), data)
    backbone = str(run["backbone"])
    downstream = sweep.tags.get(DOWNSTREAM_DATA_TAG) or spec.data.downstream.label()
    name = registered_model_name(selection.method, backbone, downstream)
    value = float(run[sweep.objective_column])
    tags = {
        SWEEP_TAG: sweep.name,
        PARENT_RUN_TAG: sweep.parent_run_id,
        TRIAL_RUN_TAG: run["run_id"],
        TRIAL_ID_TAG: trial_id,
        METHOD_TAG: selection.method,
        BACKBONE_TAG: backbone,
        PRETEXT_DATA_TAG: sweep.tags.get(PRETEXT_DATA_TAG, spec.data.pretext.label()),
        DOWNSTREAM_DATA_TAG: downstream,
        DOMAIN_TAG: spec.domain.name,
        INPUT_STANDARDISATION_TAG: (
            "none: inputs as loaded"
            if data.input_mean is None
            else "per channel (x - mean) / std inside the model; extra_files/input_standardisation.json"
        ),
        PARAMS_TAG: json.dumps(params, sort_keys=True, default=str),
        SCORES_TAG: _scores_line(selection, value),
    }
    series_length = getattr(spec.data, "series_length", None)  # time series resized before windowing
    if series_length is not None:  # the model was trained on series of this length, not raw ones
        tags[SERIES_LENGTH_TAG] = (
            f"{series_length}: resize each series to it (linear interpolation, aeon's Resizer) before the model"
        )
    config_files = {
        "trial_params.json": json.dumps(params, indent=2, sort_keys=True, default=str),
        "sweep_spec.json": spec.model_dump_json(indent=2),
    }
    if sweep.search_space_text is not None:
        config_files["searchspace.yaml"] = sweep.search_space_text
    if data.input_mean is not None:
        config_files["input_standardisation.json"] = json.dumps(
            {"mean": data.input_mean.tolist(), "std": data.input_std.tolist()}, indent=2
        )
    description = (
        f"{selection.method} / {backbone} pretrained on {tags[PRETEXT_DATA_TAG]}, selected on "
        f"{downstream} validation: {sweep.objective} = {value:.4f} ({sweep.mode}). Test: {_test_scores(selection)}. "
        f"Trial {run.get(tag_column(RUN_NAME_TAG), run['run_id'])} of sweep '{sweep.name}'."
    )
    links = {
        "trial run": run_link("", sweep.experiment_id, run["run_id"]),
        "sweep": run_link("", sweep.experiment_id, sweep.parent_run_id),
    }
    return register_backbone(
        tracking_uri,
        model,
        example_batch(data),
        name=name,
        run_id=run["run_id"],
        objective=sweep.objective,
        mode=sweep.mode,
        value=value,
        tags=tags,
        config_files=config_files,
        description=description,
        links=links,
        model_name=f"{selection.method}-{backbone}",
    )


def _scores_line(selection: Selected, value: float) -> str:
    """'test linear acc 10 % 0.650, +5.0 pts over untrained; val/linear/acc/frac_1.0 0.9600': the headline test
    score at the fewest labels (``Selected.headline_fraction``) and its gain, then the objective."""
    objective = f"{selection.sweep.objective} {value:.4g}"
    fraction = selection.headline_fraction
    if fraction is None:
        return objective
    metric = selection.metrics[0]
    text = f"test {selection.protocol} {METRIC_LABELS.get(metric, metric)} {percent(fraction)} "
    text += f"{selection.test(metric, fraction).mean:.3f}"
    gain = headline_gain(selection)
    if gain is not None:
        text += f", {gain:+.1f} pts over untrained"
    return f"{text}; {objective}"


def _test_scores(selection: Selected) -> str:
    """'linear acc, 100 % labels 0.700 (untrained 0.650, gain +0.050); ...; over 40 test series: ...' for the
    selected trial's headline test scores (``report.sweep_answer.score_rows``, as its sweep's note lists them)."""
    parts = []
    for row in score_rows(selection):
        score = f"{row.label()} {row.score:.3f}"
        if math.isfinite(row.untrained):
            score += f" (untrained {row.untrained:.3f}, gain {row.gain:+.3f})"
        parts.append(score)
    if not parts:
        return "none recorded"
    units = selection.test_units_text()
    return "; ".join(parts) + (f"; over {units}" if units else "")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
