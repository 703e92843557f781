"""The search-space schema: one YAML file per sweep, validated here before anything starts.

Data flows one way: YAML -> ``SweepSpec`` (this module) -> trial hyperparameters (``TrialParams`` plus the
method's own ``Params``) -> trainable -> library -> metrics. Every error is one line that names the file,
the field and what was expected (``SearchSpaceError``).
"""

from __future__ import annotations

import errno
import math
import os
import reprlib
import stat
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from selfsup.backbones import BACKBONES
from selfsup.data import bundled_aeon_datasets
from selfsup.domains import DOMAINS, Domain, domain_of_source
from selfsup.domains.seismic import SectionSpec
from selfsup.evaluation.metric_names import (
    ALL_PROTOCOLS,
    FINETUNE_PROTOCOL,
    HEALTH_METRICS,
    SELECTION_SPLITS,
    format_fraction,
    parse_eval_metric_name,
)
from selfsup.methods import METHODS, MethodParams
from selfsup.trial_params import PROJECTOR_PARAMS, TrialParams

TRAINING_METRICS = ("train/loss",)

# Bounds on a search-space (or nightly) file, each refused in one line before anything is built from it: a
# search space is a few kilobytes, about five levels deep, and rarely uses an alias at all.
MAX_FILE_BYTES = 256 << 10  # 256 KiB: PyYAML reads about 100 KiB a second, the largest shipped file is 3 KiB
MAX_YAML_DEPTH = 32  # nested mappings and lists
MAX_ALIAS_VALUES = 10_000  # values YAML aliases may add to what the file spells out
EXCERPT_CHARS = 80  # the most of a given value a message quotes
MESSAGE_CHARS = 2_000  # the most any message says


class SearchSpaceError(ValueError):
    """A search-space file that cannot run; the message is one line naming file, field and expectation."""


class _Strict(BaseModel):
    # No float setting means anything at infinity or NaN (a bound of .inf, cpus_per_worker: .nan).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# --------------------------------------------------------------------------------------------- data
class DatasetSpec(_Strict):
    """Where a data set comes from: a data source of one of the domains (``selfsup.domains``), e.g. an aeon
    bundled set by name, UCR/UEA .ts files, sensor-log CSVs, scikit-learn's digits, CIFAR under a local root,
    an F3 facies directory or the synthetic seismic generator."""

    source: str = "aeon"
    name: str | None = None
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # e.g. the synthetic seismic generator's arguments

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        domain_of_source(source)
        return source

    @model_validator(mode="after")
    def _complete(self) -> "DatasetSpec":
        needs = self.domain.sources[self.source]
        if needs.needs_name and not self.name:
            raise ValueError(f"source '{self.source}' needs a 'name'")
        if needs.needs_path and not self.path:
            raise ValueError(f"source '{self.source}' needs a 'path' ({needs.path_hint})")
        if self.path and not needs.needs_path:  # it would be ignored: e.g. aeon loads its bundled copy by name
            raise ValueError(f"source '{self.source}' takes no 'path' (got {self.path!r}); remove it")
        if self.options:
            if needs.options is None:
                raise ValueError(f"source '{self.source}' takes no 'options'")
            try:
                self.options = needs.options(**self.options).model_dump()
            except ValidationError as error:
                raise ValueError(f"options of source '{self.source}': {first_message(error)}") from None
        if self.source == "aeon":
            bundled = bundled_aeon_datasets()
            if self.name not in bundled:
                raise ValueError(f"aeon has no bundled data set '{self.name}'; bundled: {', '.join(bundled)}")
        return self

    @property
    def domain(self) -> Domain:
        return domain_of_source(self.source)

    def label(self) -> str:
        return self.name or Path(self.path or "").name or self.source


class WindowSpec(_Strict):
    length: int = Field(60, ge=4)
    overlap: float = Field(0.5, ge=0, lt=1)


class DataSpec(_Strict):
    pretext: DatasetSpec
    downstream: DatasetSpec
    window: WindowSpec = WindowSpec()  # time series only
    sections: SectionSpec = SectionSpec()  # seismic only: patches, inline-block splits
    validation_fraction: float = Field(0.2, gt=0, lt=1)  # time series and images
    # Time series only: every series of every split (pretext and downstream) resized to this many steps by
    # linear interpolation before it is windowed. Unequal-length sets (gestures of 29 to 361 steps) can then
    # be learned from whole: with window.length equal to it, each series is one window.
    series_length: int | None = Field(None, ge=4)
    # Time series only: the windows the downstream splits (probes, objective, supervised baseline, test) are
    # cut into, when they differ from the pretext windows (data.window, or a searched window_length). With
    # series_length N, {length: N, overlap: 0} scores each series whole while the method trains on shorter
    # windows of it, as image SSL trains on crops and evaluates whole images. Default: data.window.
    evaluation_window: WindowSpec | None = None

    @model_validator(mode="after")
    def _one_domain(self) -> "DataSpec":
        pretext, downstream = self.pretext.domain, self.downstream.domain
        if pretext is not downstream:
            raise ValueError(
                f"pretext data {self.pretext.source} is {pretext.description} but downstream data "
                f"{self.downstream.source} is {downstream.description}; both must be one domain"
            )
        # Fields that belong to one domain: (field, set, the domain it belongs to, what it does). Checked against
        # the defaults, not model_fields_set: a spec dumped and validated again (every trial does) has every
        # field set.
        one_domain_fields = [
            ("window", self.window != WindowSpec(), "timeseries", "cuts time series into windows"),
            ("evaluation_window", self.evaluation_window is not None, "timeseries", "cuts time series into windows"),
            ("series_length", self.series_length is not None, "timeseries", "resizes time series"),
            ("sections", self.sections != SectionSpec(), "seismic", "cuts seismic volumes into patches"),
        ]
        for field, is_set, domain, purpose in one_domain_fields:
            if is_set and downstream.name != domain:
                raise ValueError(
                    f"'{field}' {purpose}, but data {self.downstream.source} is {downstream.description}; remove it"
                )
        if (
            self.validation_fraction != DataSpec.model_fields["validation_fraction"].default
            and downstream.name == "seismic"
        ):
            raise ValueError(
                "'validation_fraction' does not apply to seismic data: validation is an inline block "
                "(data.sections.validation)"
            )
        return self

    @property
    def domain(self) -> Domain:
        return self.downstream.domain


# --------------------------------------------------------------------------------------- evaluation
class EvaluationSpec(_Strict):
    # None: the domain's default protocols (linear, knn and mlp for time series; see selfsup.domains).
    protocols: list[str] | None = Field(None, min_length=1)
    # None: the domain's default ([1.0]; seismic: the reference report's 1, 5, 10, 25, 50, 100 %).
    label_fractions: list[float] | None = Field(None, min_length=1)
    # "series": window embeddings averaged per series, one prediction per series (as UCR/UEA scores are);
    # "window": every window is an example (sensor logs whose test set is a list of windows).
    unit: Literal["series", "window"] = "series"
    # Score the same backbone untrained beside the pretrained one: the gain is what pretraining adds.
    compare_random_init: bool = True
    knn_k: int = Field(20, ge=1)
    mlp_epochs: int = Field(200, ge=1)
    # cv/... objectives: stratified k-fold cross-validation over train + validation, repeated with new seeds.
    cv_folds: int = Field(5, ge=2)
    cv_repeats: int = Field(3, ge=1)
    # After the search: the best trial of each backbone trained supervised from scratch (same backbone,
    # optimiser, batch and augmentations) on each label fraction, scored with the same probes.
    supervised_baseline: bool = False
    # Test scores from readouts fitted on the training AND validation units (each label fraction drawn over
    # both) instead of the training units alone: once the sweep has selected (a cv/ objective already uses
    # both), every labelled series counts, as UCR/UEA figures use the whole training split. Validation scores
    # stay fitted on training units only; the supervised baseline trains on both. Classification, frozen-
    # feature protocols.
    refit_on_validation: bool = False
    # Segmentation (seismic): the head's training at each label fraction (selfsup.evaluation.segmentation).
    # The reference report trained its head with batch 8 and lr 0.007 (SGD); Adam at 1e-3 is the default here.
    segmentation_epochs: int = Field(30, ge=1)
    segmentation_lr: float = Field(1e-3, gt=0)
    segmentation_batch_size: int = Field(8, ge=1)
    # Width of the head's first transposed convolution (the report's 512; narrower heads train faster on CPU).
    segmentation_head_channels: int = Field(512, ge=1)
    # Fine-tuning (classification, protocol "finetune", opt-in; selfsup.evaluation.finetune): a copy of the
    # backbone and a linear head trained end to end at each label fraction, AdamW (weight decay 0: Adam) at
    # finetune_lr for the head and finetune_backbone_lr (None: the same) for the backbone, as seg_finetune
    # trains with Adam at 1e-3; SimCLR's fine-tuning (one learning rate for every weight) scaled down.
    finetune_epochs: int = Field(20, ge=1)
    finetune_lr: float = Field(1e-3, gt=0)
    finetune_backbone_lr: float | None = Field(None, gt=0)
    finetune_batch_size: int = Field(64, ge=1)
    finetune_weight_decay: float = Field(0.0, ge=0)

    @field_validator("protocols")
    @classmethod
    def _known_protocols(cls, protocols: list[str] | None) -> list[str] | None:
        for protocol in protocols or []:
            if protocol not in ALL_PROTOCOLS:
                raise ValueError(f"unknown evaluation protocol '{protocol}'; known: {', '.join(ALL_PROTOCOLS)}")
        return protocols

    @field_validator("label_fractions")
    @classmethod
    def _fractions_in_unit_interval(cls, fractions: list[float] | None) -> list[float] | None:
        if fractions is None:
            return None
        for fraction in fractions:
            if not 0 < fraction <= 1:
                raise ValueError(f"label fraction {fraction} is outside (0, 1]")
        return sorted(set(fractions))


class ObjectiveSpec(_Strict):
    # None: the domain's default (time series: cv/linear/f1/frac_0.1, cross-validated, so small labelled sets
    # can still rank configurations; docs/guide/objectives.md: choosing an objective).
    metric: str | None = None
    mode: Literal["min", "max"] = "max"


# ---------------------------------------------------------------------------------- search / budget
class Dimension(_Strict):
    """One searched hyperparameter, as an Optuna distribution."""

    type: Literal["categorical", "int", "float"]
    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Dimension":
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical dimension needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("categorical dimension takes 'choices', not low/high/log/step")
            repeats = [c for i, c in enumerate(self.choices) if c in self.choices[:i]]
            if repeats:
                raise ValueError(
                    f"categorical choices repeat {repeats[0]!r}; expected each choice once (a repeat "
                    f"weighs it twice in TPE and runs it twice in a grid)"
                )
            return self
        if self.choices is not None:
            raise ValueError(f"{self.type} dimension takes low/high, not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} dimension needs both 'low' and 'high'")
        if not self.low < self.high:
            raise ValueError(f"low must be < high (got low={self.low}, high={self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got low={self.low})")
        if self.log and self.step is not None:
            raise ValueError("'step' cannot be combined with log=true")
        if self.step is not None and not self.step > 0:
            raise ValueError(f"step must be > 0 (got step={self.step:g})")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"int dimension needs integer bounds (got {self.low}, {self.high})")
        if self.type == "int" and self.step is not None and self.step != int(self.step):
            raise ValueError(f"int dimension needs an integer step (got step={self.step:g})")
        return self

    def optuna_distribution(self):
        import optuna.distributions as od

        if self.type == "categorical":
            return od.CategoricalDistribution(self.choices)
        if self.type == "int":
            return od.IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return od.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def describe(self) -> str:
        if self.type == "categorical":
            return f"categorical {self.choices}"
        scale = "log " if self.log else ""
        return f"{scale}{self.type} [{self.low:g}, {self.high:g}]" + (f" step {self.step:g}" if self.step else "")

    def grid_values(self) -> list[Any]:
        """Every value a grid search tries: the choices, or the range in steps (an int range's step defaults
        to 1); ValueError for a continuous range, which has no grid."""
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None or self.log:
            raise ValueError(
                f"a grid needs a finite set of values, but {self.describe()} is continuous; give it "
                f"choices (type: categorical) or a step"
            )
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def extremes(self) -> list[Any]:
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]


class BudgetSpec(_Strict):
    trials: int = Field(8, ge=1)
    epochs: int = Field(20, ge=1)
    # None: as many trials at once as the cluster's CPUs/GPUs fit (trainables.sweep.driver.trial_concurrency).
    max_concurrent: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(5, ge=1)


class ResourcesSpec(_Strict):
    workers: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    # Where a trial's training loop runs (the loop is the same function on both paths):
    #   in_trial   inside the Tune trial's own process: no Ray Train start-up; one worker only
    #   ray_train  in a Ray Train TorchTrainer's worker group (DDP over ``workers`` processes)
    #   auto       in_trial for one worker, ray_train for two or more
    execution: Literal["auto", "in_trial", "ray_train"] = "auto"
    # bf16: training steps under bfloat16 autocast, losses and evaluation in float32 (selfsup.mixed_precision).
    precision: Literal["fp32", "bf16"] = "fp32"
    # Backbone weights and 4-D batches in channels-last (NHWC) layout, which cuDNN's tensor-core convolutions
    # read without transposes; images and seismic only (time-series batches are 3-D).
    channels_last: bool = False
    # How many times a trial that crashed (a Ray Train worker or the trial's process died: a lost node, an
    # out-of-memory kill) is restarted from its last checkpoint: Ray Train's FailureConfig for worker groups,
    # Tune's for in-trial trials. A trial sslsweep itself stops (a NaN loss, a collapse) is not retried.
    max_failures: int = Field(2, ge=0)

    @model_validator(mode="after")
    def _one_process_in_trial(self) -> "ResourcesSpec":
        if self.execution == "in_trial" and self.workers > 1:
            raise ValueError(
                f"execution 'in_trial' runs one process, but workers is {self.workers}; "
                f"use 'ray_train' (or 'auto') for data-parallel trials"
            )
        return self

    @property
    def uses_ray_train(self) -> bool:
        return self.execution == "ray_train" or (self.execution == "auto" and self.workers > 1)


class SchedulerSpec(_Strict):
    type: Literal["asha", "fifo"] = "asha"
    # Epochs every trial runs before ASHA compares it: at most budget.epochs (SweepSpec._within_the_budget);
    # the default, 2, becomes 1 in a one-epoch budget.
    grace_period: int = Field(2, ge=1)
    reduction_factor: float = Field(2.0, gt=1)


class FinalSpec(_Strict):
    """After the search: the ``top_k`` best configurations re-run ``repeats`` times with new training seeds
    (``top_k`` at most ``budget.trials``: SweepSpec._within_the_budget)."""

    repeats: int = Field(0, ge=0)
    top_k: int = Field(1, ge=1)


class SamplerSpec(_Strict):
    """Optuna's sampler: TPE (model-based), random search (the baseline TPE must beat), or a grid (Optuna's
    ``GridSampler``: every combination of the searched values once, in a seeded order; ``budget.trials`` must
    be the grid's size), for the grids reports tabulate (e.g. backbone x projector dimension x lambda).

    ``sampler: tpe`` is short for ``sampler: {type: tpe}``. TPE samples its first ``startup_trials`` trials
    at random before it models anything (Optuna's default is 10); in a sweep of 16 trials that leaves 6 to
    the model, so small sweeps set it lower.
    """

    type: Literal["tpe", "random", "grid"] = "tpe"
    startup_trials: int | None = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _startup_only_for_tpe(self) -> "SamplerSpec":
        if self.startup_trials is not None and self.type != "tpe":
            raise ValueError("sampler.startup_trials applies to the tpe sampler only")
        return self

    def describe(self) -> str:
        if self.type in ("random", "grid"):
            return self.type
        return f"TPE ({self.startup_trials or 10} random start-up trials)"


class HealthSpec(_Strict):
    # Normalised embedding std (1 = spread like an isotropic Gaussian, 0 = collapsed); below the floor
    # after ``grace_epochs`` the trial is ended as collapsed.
    collapse_std_floor: float = Field(0.02, ge=0)
    grace_epochs: int = Field(1, ge=0)


# -------------------------------------------------------------------------- trial hyperparameters
# ``TrialParams`` (selfsup.trial_params) is shared by every domain; each domain's ``Params`` extends it.


def split_trial_params(
    method: str, values: dict[str, Any], domain: str = "timeseries"
) -> tuple[TrialParams, MethodParams]:
    """Validate a flat hyperparameter dict into the shared ones (the ``domain``'s ``Params``: optimiser,
    backbone, input size, augmentations) and the method's own parameters."""
    method_params_cls = METHODS.get(method).Params
    shared_cls = DOMAINS.get(domain).Params
    method_keys = set(method_params_cls.model_fields)
    shared_keys = set(shared_cls.model_fields)
    unknown = sorted(set(values) - method_keys - shared_keys)
    if unknown:
        raise ValueError(
            f"unknown hyperparameter '{unknown[0]}' for method '{method}'; known: "
            f"{', '.join(sorted(method_keys | shared_keys))}"
        )
    shared = shared_cls(**{k: v for k, v in values.items() if k in shared_keys})
    own = method_params_cls(**{k: v for k, v in values.items() if k in method_keys})
    return shared, own


# ------------------------------------------------------------------------------------------- sweep
class SweepSpec(_Strict):
    # The name becomes a directory name (the Ray experiment's, with a date and id appended; the report's) and
    # part of the MLflow experiment's (256 characters at most): 128 leaves room for what is appended.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=128)
    description: str = ""
    method: str
    seed: int = Field(0, ge=0, lt=2**31)  # NumPy and Optuna refuse negative seeds (final repeats add to it)
    data: DataSpec
    # Factories: validation fills the domain's defaults into these, so no two specs may share one instance.
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    search: dict[str, Dimension] = Field(default_factory=dict)
    fixed: dict[str, Any] = Field(default_factory=dict)
    budget: BudgetSpec = BudgetSpec()
    resources: ResourcesSpec = ResourcesSpec()
    scheduler: SchedulerSpec = SchedulerSpec()
    sampler: SamplerSpec = SamplerSpec()
    final: FinalSpec = FinalSpec()
    health: HealthSpec = HealthSpec()

    _known_method = field_validator("method")(lambda name: METHODS.check(name))

    @model_validator(mode="after")
    def _hyperparameters_and_objective(self) -> "SweepSpec":
        domain = self.domain
        # What the sweep leaves unsaid comes from its domain (its data source's).
        if self.evaluation.protocols is None:
            self.evaluation.protocols = list(domain.default_protocols)
        if self.evaluation.label_fractions is None:
            self.evaluation.label_fractions = list(domain.default_label_fractions)
        if self.objective.metric is None:
            self.objective.metric = domain.default_objective
        self._check_fits_domain()
        overlap = sorted(set(self.search) & set(self.fixed))
        if overlap:
            raise ValueError(f"'{overlap[0]}' is both searched and fixed; keep one")
        if not METHODS.get(self.method).uses_projector:
            unused = sorted(k for k in {**self.search, **self.fixed} if k in PROJECTOR_PARAMS)
            if unused:  # searching it would only spend trials on a dimension that changes nothing
                raise ValueError(
                    f"'{unused[0]}' does nothing: {self.method} has no shared projector (its heads "
                    f"are its own); remove it"
                )
        # Every searched value must be a valid hyperparameter value: check each choice and both bounds.
        split_trial_params(self.method, self.fixed, domain.name)
        for key, dimension in self.search.items():
            for value in dimension.extremes():
                try:
                    split_trial_params(self.method, {**self.fixed, key: value}, domain.name)
                except ValueError as error:
                    raise ValueError(f"search.{key}: {first_message(error)}") from None
            if dimension.type == "float":  # bounds can be whole numbers; what is drawn between them is not
                inside = dimension.low + min(0.5, (dimension.high - dimension.low) / 2)
                try:
                    split_trial_params(self.method, {**self.fixed, key: inside}, domain.name)
                except ValueError:
                    raise ValueError(
                        f"search.{key}: a float dimension draws fractional values such as {inside:g}, "
                        f"but {key} takes whole numbers; expected type: int (or categorical)"
                    ) from None
        self._check_objective()
        if self.sampler.type == "grid":
            self._check_grid()
        return self

    def grid(self) -> dict[str, list[Any]]:
        """The searched values of a grid search, per dimension."""
        return {key: dimension.grid_values() for key, dimension in self.search.items()}

    def _check_grid(self) -> None:
        if not self.search:
            raise ValueError("sampler grid needs searched dimensions (search: is empty)")
        grid = {}
        for key, dimension in self.search.items():
            try:
                grid[key] = dimension.grid_values()
            except ValueError as error:
                raise ValueError(f"search.{key}: {error}") from None
        size = math.prod(len(values) for values in grid.values())
        if self.budget.trials != size:
            shape = " x ".join(f"{len(values)} {key}" for key, values in grid.items())
            raise ValueError(
                f"sampler grid: the grid has {size} points ({shape}), but budget.trials is "
                f"{self.budget.trials}; set budget.trials: {size} (final.repeats re-runs the best with "
                f"new seeds)"
            )

    @property
    def domain(self) -> Domain:
        """The data's domain (time series, images, seismic), from the data source the file names."""
        return self.data.domain

    def _check_fits_domain(self) -> None:
        """Refuse a method, backbone, hyperparameter or evaluation protocol that does not fit the data's
        domain, naming both sides."""
        domain, data = self.domain, f"data {self.data.downstream.source}"
        method = METHODS.get(self.method)
        if domain.name not in method.domains:
            raise ValueError(
                f"method '{self.method}' trains on {_list_domains(method.domains)}, but {data} is {domain.description}"
            )
        # As text: a list or mapping given as a backbone is unhashable (the trial parameters refuse it by name).
        backbones = {str(self.fixed.get("backbone", domain.Params.model_fields["backbone"].default))}
        if "backbone" in self.search and self.search["backbone"].choices:
            backbones = set(map(str, self.search["backbone"].choices))
        for name in sorted(backbones):
            if name in BACKBONES and domain.name not in BACKBONES.get(name).domains:
                fitting = [b for b in BACKBONES if domain.name in BACKBONES.get(b).domains]
                raise ValueError(
                    f"backbone '{name}' reads {_list_domains(BACKBONES.get(name).domains)}, but {data} "
                    f"is {domain.description}; {domain.description} backbones: {', '.join(fitting)}"
                )
        own_keys = set(domain.Params.model_fields) | set(method.Params.model_fields)
        for key in [*self.fixed, *self.search]:
            if key in domain.refused_params:
                raise ValueError(f"'{key}' is refused for {domain.description} ({data}): {domain.refused_params[key]}")
            if key in own_keys:
                continue
            owners = [other for other in DOMAINS if key in DOMAINS.get(other).Params.model_fields]
            if owners:
                raise ValueError(
                    f"'{key}' is a hyperparameter of {_list_domains(owners)}, but {data} is "
                    f"{domain.description}; {domain.description} hyperparameters: "
                    f"{', '.join(sorted(set(domain.Params.model_fields) - set(TrialParams.model_fields)))}"
                )
        if self.resources.channels_last and domain.name == "timeseries":
            raise ValueError(
                f"resources.channels_last lays out 4-D image batches, but {data} is "
                f"{domain.description}, whose batches are 3-D (batch, channels, time); remove it"
            )
        domain.check_sweep(self)
        for protocol in self.evaluation.protocols:
            if protocol not in domain.protocols:
                # finetune (classification) and seg_finetune (segmentation) both fine-tune: point to the other.
                twin = next(
                    (
                        p
                        for p in domain.protocols
                        if protocol.endswith(FINETUNE_PROTOCOL) and p.endswith(FINETUNE_PROTOCOL)
                    ),
                    None,
                )
                hint = f" (fine-tuning on {domain.description} is '{twin}')" if twin else ""
                raise ValueError(
                    f"evaluation.protocols: '{protocol}' does not apply to {data}, which is "
                    f"{domain.description} ({domain.task}); its protocols: {', '.join(domain.protocols)}"
                    f"{hint}"
                )

    @model_validator(mode="after")
    def _refit_for_frozen_classification(self) -> "SweepSpec":
        if not self.evaluation.refit_on_validation:
            return self
        domain = self.domain
        if domain.task != "classification":
            raise ValueError(
                f"evaluation.refit_on_validation refits classification readouts; data "
                f"{self.data.downstream.source} is {domain.description} ({domain.task}); remove it"
            )
        if FINETUNE_PROTOCOL in self.evaluation.protocols:
            raise ValueError(
                "evaluation.refit_on_validation refits the frozen-feature readouts; the finetune "
                "protocol trains on training units only: remove one of them"
            )
        return self

    @model_validator(mode="after")
    def _baseline_needs_an_ssl_method(self) -> "SweepSpec":
        if self.evaluation.supervised_baseline and METHODS.get(self.method).uses_labels:
            raise ValueError(
                f"evaluation.supervised_baseline compares an SSL method with supervised training; "
                f"method '{self.method}' already trains on labels"
            )
        return self

    @model_validator(mode="after")
    def _within_the_budget(self) -> "SweepSpec":
        """Settings counted in epochs or trials fit the budget: Tune and the final re-runs would otherwise lower
        them without a word while the dry run printed what was asked."""
        scheduler, epochs = self.scheduler, self.budget.epochs
        if scheduler.type == "asha" and scheduler.grace_period > epochs:
            if scheduler.grace_period != SchedulerSpec.model_fields["grace_period"].default:
                raise ValueError(
                    f"scheduler.grace_period is {scheduler.grace_period} epochs, above budget.epochs "
                    f"{epochs} (ASHA compares trials after grace_period epochs); expected at most "
                    f"{epochs}"
                )
            self.scheduler = scheduler.model_copy(update={"grace_period": epochs})  # the default, in one epoch
        if self.final.repeats and self.final.top_k > self.budget.trials:
            raise ValueError(
                f"final.top_k is {self.final.top_k} configurations to re-run, above budget.trials "
                f"{self.budget.trials}; expected at most {self.budget.trials}"
            )
        return self

    def _check_objective(self) -> None:
        metric = self.objective.metric
        if metric in HEALTH_METRICS or metric in TRAINING_METRICS:
            return
        parsed = parse_eval_metric_name(metric)
        fractions = ", ".join(format_fraction(f) for f in self.evaluation.label_fractions)
        domain = self.domain
        scores = "|".join(domain.metrics)
        cross_validated = [p for p in self.evaluation.protocols if p != FINETUNE_PROTOCOL]
        produced = (
            f"val/<{'|'.join(self.evaluation.protocols)}>/<{scores}>/frac_<{fractions}>, "
            + (
                f"cv/<{'|'.join(cross_validated)}>/<{scores}>/frac_<fraction>, "
                if domain.task == "classification" and cross_validated
                else ""
            )
            + f"{', '.join(HEALTH_METRICS + TRAINING_METRICS)}"
        )
        if parsed is None or parsed.prefix:
            raise ValueError(f"objective.metric '{metric}' is produced by no protocol; expected one of {produced}")
        if parsed.split not in SELECTION_SPLITS:
            raise ValueError(
                f"objective.metric '{metric}' selects on {parsed.split} data; test data only "
                f"reports, select on a val/ or cv/ metric"
            )
        if not domain.metric_applies(parsed.protocol, parsed.metric):
            raise ValueError(
                f"objective.metric '{metric}' does not apply to data {self.data.downstream.source}, "
                f"which is {domain.description} ({domain.task}); expected one of {produced}"
            )
        if parsed.split == "cv" and domain.task != "classification":
            raise ValueError(
                f"objective.metric '{metric}': cross-validated objectives are for classification; "
                f"data {self.data.downstream.source} is {domain.description}, select on a val/ metric"
            )
        if parsed.split == "cv" and parsed.protocol == FINETUNE_PROTOCOL:
            raise ValueError(
                f"objective.metric '{metric}': fine-tuning is not cross-validated (it would train "
                f"{self.evaluation.cv_folds} folds x {self.evaluation.cv_repeats} repeats backbone "
                f"copies per evaluation, every epoch); select on "
                f"val/finetune/{parsed.metric}/frac_<fraction> or a cv/ metric of a frozen-feature "
                f"protocol"
            )
        if parsed.protocol not in self.evaluation.protocols:
            raise ValueError(
                f"objective.metric '{metric}' needs protocol '{parsed.protocol}', which "
                f"evaluation.protocols {self.evaluation.protocols} does not run"
            )
        # A cv/ objective is computed on its own, at any fraction; a val/ one must be among those evaluated.
        if parsed.split == "val" and not any(math.isclose(parsed.fraction, f) for f in self.evaluation.label_fractions):
            raise ValueError(
                f"objective.metric '{metric}' needs label fraction {format_fraction(parsed.fraction)}, "
                f"which evaluation.label_fractions [{fractions}] does not include"
            )

    # ---- derived views used by tune.py and the trainable
    def default_params(self) -> dict[str, Any]:
        """Values of every hyperparameter that is not searched (fixed ones and defaults; the projector's only
        for methods that build one)."""
        shared, own = split_trial_params(self.method, self.fixed, self.domain.name)
        values = {**shared.model_dump(), **own.model_dump()}
        unused = set() if METHODS.get(self.method).uses_projector else PROJECTOR_PARAMS
        return {k: v for k, v in values.items() if k not in self.search and k not in unused}

    def supervised_baseline_spec(self) -> "SweepSpec":
        """This sweep with the supervised baseline as its method: same data, evaluation and budget."""
        return SweepSpec.model_validate(
            {
                **self.model_dump(mode="json"),
                "method": "supervised",
                "search": {},
                "fixed": {},
                # The untrained backbone is already scored in the SSL trial it is matched with.
                "evaluation": {
                    **self.evaluation.model_dump(mode="json"),
                    "supervised_baseline": False,
                    "compare_random_init": False,
                },
                "final": FinalSpec().model_dump(),
            }
        )

    def optuna_space(self) -> dict[str, Any]:
        return {key: dimension.optuna_distribution() for key, dimension in self.search.items()}


def _list_domains(names) -> str:
    return " and ".join(DOMAINS.get(name).description if name in DOMAINS else name for name in names)


def first_message(error: Exception) -> str:
    """The first problem of ``error`` as "location: message" (a ``ValidationError``), else its text."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        return f"{loc}: {first['msg']}" if loc else first["msg"]
    return str(error)


def _explain(error: ValidationError) -> str:
    """One line for the first problem: dotted location, then what was expected and what was found."""
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = f"unknown key; expected one of: {', '.join(_allowed_keys(first['loc'][:-1]))}"
    elif first["type"] == "missing":
        message = "required field is missing"
    elif "input" in first and first["type"] not in ("value_error", "assertion_error"):
        message = f"{message} (got {_excerpt(first['input'])})"
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{loc}: {message}{suffix}" if loc else f"{message}{suffix}"


_BRIEF = reprlib.Repr()  # Repr(**limits) needs Python 3.12
_BRIEF.maxlevel = 3
_BRIEF.maxtuple = _BRIEF.maxlist = _BRIEF.maxdict = _BRIEF.maxset = _BRIEF.maxfrozenset = _BRIEF.maxdeque = 4
_BRIEF.maxstring = _BRIEF.maxlong = _BRIEF.maxother = EXCERPT_CHARS


def _excerpt(value: Any) -> str:
    """``repr(value)`` cut to ``EXCERPT_CHARS``, in time and memory bounded whatever the value's size (reprlib
    looks at a few items of each level only)."""
    text = _BRIEF.repr(value)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def one_line(message: str) -> str:
    """A message as one line of at most ``MESSAGE_CHARS``: line breaks a value or a path brought in escaped,
    the rest of an overlong message (a value echoed whole by a check) left out."""
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    if len(message) > MESSAGE_CHARS:
        message = f"{message[:MESSAGE_CHARS]}... ({len(message):,} characters in all)"
    return message


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = SweepSpec
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if model is None:
            return []
    return list(model.model_fields)


_SWEEP_SETTINGS = "a mapping of sweep settings (name, method, data, ...)"


def _not_a_regular_file(mode: int) -> str | None:
    """What a path is when it is no regular file (what ``os.stat`` read: links followed), else None."""
    for test, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


def _cannot_open(path: Path, error: OSError, kind: str) -> str:
    if error.errno == errno.ELOOP:
        return f"is a symlink loop (following its links leads back to one of them); expected a {kind} YAML file"
    if error.errno == errno.ENOENT and os.path.islink(path):
        return f"is a dangling symlink (its target does not exist); expected a {kind} YAML file"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"no such {kind} file"
    return f"cannot be read ({error.strerror or error}); expected a readable {kind} YAML file"


def read_searchspace_text(path: Path, kind: str = "search-space", contents: str = _SWEEP_SETTINGS) -> str:
    """The file's text, or ``SearchSpaceError`` (one line) for a path that is missing, a symlink loop, no
    regular file (a directory, a FIFO that would block the read, a device such as /dev/zero that never ends, a
    socket), larger than ``MAX_FILE_BYTES``, unreadable, not UTF-8 text (e.g. Latin-1 bytes, a binary file,
    UTF-16) or empty. ``kind`` names the file in messages (search-space, nightly), ``contents`` what it holds."""
    path = Path(path)
    try:
        what = _not_a_regular_file(os.stat(path).st_mode)
        if what is None:  # opened without blocking and checked again: the path may have changed since
            descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
            with open(descriptor, "rb") as handle:
                what = _not_a_regular_file(os.fstat(handle.fileno()).st_mode)
                # At most one byte over the bound, so a huge file (or one growing as it is read) costs nothing.
                data = b"" if what else handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise SearchSpaceError(f"{path}: {_cannot_open(path, error, kind)}") from None
    if what:
        raise SearchSpaceError(f"{path}: is {what}; expected a {kind} YAML file")
    if len(data) > MAX_FILE_BYTES:
        raise SearchSpaceError(
            f"{path}: larger than {MAX_FILE_BYTES >> 10} KiB; expected a {kind} YAML file (a few kilobytes)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise SearchSpaceError(
            f"{path}: not UTF-8 text (byte 0x{data[error.start]:02x} at line {line} cannot be "
            f"decoded); expected a UTF-8 YAML file (re-save it as UTF-8)"
        ) from None
    if "\x00" in text:  # valid UTF-8, but no text file holds NUL bytes (UTF-16 and binary files do)
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise SearchSpaceError(
            f"{path}: not UTF-8 text (a NUL byte at line {line}: a binary or UTF-16 file?); "
            f"expected a UTF-8 YAML file (re-save it as UTF-8)"
        )
    if not text.strip():
        raise SearchSpaceError(f"{path}: the file is empty; expected {contents}")
    return text


def _duplicate_key(node, where: str = "", seen: set | None = None) -> tuple[str, int, int] | None:
    """The first key given twice in one YAML mapping, as (dotted key, its line, the first one's line), or None.
    PyYAML keeps the last value of a repeated key without a word, so a second ``search:`` block would
    silently replace the first."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias of a node already walked
        return None
    seen.add(id(node))
    children = []
    if isinstance(node, yaml.MappingNode):
        first_lines = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            dotted = f"{where}.{name}" if where else str(name)
            if name is not None and name != "<<":
                if (key.tag, name) in first_lines:
                    return dotted, key.start_mark.line + 1, first_lines[key.tag, name]
                first_lines[key.tag, name] = key.start_mark.line + 1
            children.append((value, dotted))
    elif isinstance(node, yaml.SequenceNode):
        children = [(item, f"{where}[{index}]") for index, item in enumerate(node.value)]
    for child, dotted in children:
        found = _duplicate_key(child, dotted, seen)
        if found:
            return found
    return None


class _TooDeep(yaml.YAMLError):
    def __init__(self, mark):
        super().__init__(f"nested deeper than {MAX_YAML_DEPTH} levels")
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document nested deeper than ``MAX_YAML_DEPTH`` while it composes it:
    the composer recurses, so 5,000 nested lists would end in RecursionError."""

    _depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_YAML_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_KEY_KINDS = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:bool": "a boolean (YAML reads yes, no, on, off, true and false as booleans)",
}
_STR_TAG, _MERGE_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"


def _key_problem(key: yaml.Node, where: str) -> str:
    where, line = where or "top level", key.start_mark.line + 1
    if not isinstance(key, yaml.ScalarNode):
        return (
            f"{where}: a key (line {line}) is {'a list' if isinstance(key, yaml.SequenceNode) else 'a mapping'}; "
            f"expected a name"
        )
    text = key.value if len(key.value) <= EXCERPT_CHARS else key.value[: EXCERPT_CHARS - 3] + "..."
    return (
        f"{where}: key {text or '(empty)'} (line {line}) is {_KEY_KINDS.get(key.tag, f'tagged {key.tag}')}; "
        f"expected a name (quote it if it is one: '{text}')"
    )


def _node_problem(root: yaml.Node) -> str | None:
    """The first thing in a composed YAML document that no search space holds, as one line, or None: a key that
    is not a string (``1:``, ``~:``, ``yes:``, a list), an alias inside the node it names, or aliases that
    expand the document by more than ``MAX_ALIAS_VALUES`` values (a few hundred bytes of nested aliases can
    stand for billions of values). Walked without recursion, each node once; aliases are shared nodes."""
    expanded: dict[int, int] = {}  # node id -> values it stands for, aliases expanded
    ancestors: set[int] = set()
    written = 0
    stack: list[tuple[yaml.Node, str, bool]] = [(root, "", False)]
    while stack:
        node, where, finished = stack.pop()
        children = (
            [part for pair in node.value for part in pair]
            if isinstance(node, yaml.MappingNode)
            else node.value
            if isinstance(node, yaml.SequenceNode)
            else []
        )
        if finished:
            ancestors.discard(id(node))
            expanded[id(node)] = 1 + sum(expanded[id(child)] for child in children)
            continue
        if id(node) in expanded:
            continue
        if id(node) in ancestors:
            return (
                f"{where or 'top level'} (line {node.start_mark.line + 1}): an alias of a node that holds it "
                f"(it would never end); expected plain values"
            )
        ancestors.add(id(node))
        written += 1
        stack.append((node, where, True))
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                if not isinstance(key, yaml.ScalarNode) or key.tag not in (_STR_TAG, _MERGE_TAG):
                    return _key_problem(key, where)
                stack += [(value, f"{where}.{key.value}" if where else key.value, False), (key, where, False)]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, f"{where}[{index}]", False) for index, item in reversed(list(enumerate(node.value)))]
    if expanded[id(root)] - written > MAX_ALIAS_VALUES:
        return (
            f"aliases (*name) expand the {written:,} values written to {expanded[id(root)]:,}; expected "
            f"aliases to add at most {MAX_ALIAS_VALUES:,} values (a search space repeats a few)"
        )
    return None


def parse_yaml(path: Path, text: str):
    """The YAML document ``text`` (of the file ``path``) as Python values, or ``SearchSpaceError`` in one line:
    malformed YAML, a key given twice or that is no string, nesting deeper than ``MAX_YAML_DEPTH``, aliases
    that expand without bound. Checked on the composed node graph, before any Python value is built."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        problem = node is not None and _node_problem(node)
        if problem:
            raise SearchSpaceError(f"{path}: {problem}")
        duplicate = node is not None and _duplicate_key(node)
        if duplicate:
            key, line, first = duplicate
            raise SearchSpaceError(
                f"{path}: {key}: given twice (line {first} and line {line}); expected each key "
                f"once (YAML would keep only the last)"
            )
        return None if node is None else loader.construct_document(node)
    except _TooDeep as error:
        raise SearchSpaceError(
            f"{path}: line {error.mark.line + 1}: nested deeper than {MAX_YAML_DEPTH} levels of "
            f"mappings and lists; expected a few (a search space uses about 5)"
        ) from None
    except RecursionError:  # a guard: the depth bound keeps PyYAML well inside Python's recursion limit
        raise SearchSpaceError(
            f"{path}: nested too deeply to be read; expected a few levels of mappings and lists"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SearchSpaceError(f"{path}: malformed YAML{where}: {problem}") from None
    finally:
        loader.dispose()


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a search-space file; raises ``SearchSpaceError`` with a one-line message."""
    try:
        return _read_sweep(Path(path))
    except SearchSpaceError as error:
        raise SearchSpaceError(one_line(str(error))) from None


def _read_sweep(path: Path) -> SweepSpec:
    raw = parse_yaml(path, read_searchspace_text(path))
    if raw is None:
        raise SearchSpaceError(
            f"{path}: the file holds no settings (only comments or null); expected a mapping of sweep settings "
            f"(name, method, data, ...)"
        )
    if not isinstance(raw, dict):
        raise SearchSpaceError(
            f"{path}: expected a mapping of sweep settings at the top level, got {type(raw).__name__}"
        )
    try:
        return SweepSpec(**raw)
    except ValidationError as error:
        raise SearchSpaceError(f"{path}: {_explain(error)}") from None


def override_budget(
    spec: SweepSpec,
    path: str | Path,
    trials: int | None = None,
    epochs: int | None = None,
    flags: dict[str, str] | None = None,
) -> SweepSpec:
    """``spec`` with its budget's trials and/or epochs replaced (``tune.py --trials/--epochs``), or
    ``SearchSpaceError`` in one line that names the override as ``flags`` does (default: the command-line flags)
    and what it must be: at least 1, the grid's size for a grid sweep, and room for what the file counts in
    epochs and trials (scheduler.grace_period, final.top_k)."""
    flags = {"trials": "--trials", "epochs": "--epochs", **(flags or {})}
    overrides = {key: value for key, value in (("trials", trials), ("epochs", epochs)) if value is not None}
    for key, value in overrides.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SearchSpaceError(
                one_line(f"{path}: {flags[key]} {value}: expected a whole number of {key} of at least 1")
            )
    if "trials" in overrides and spec.sampler.type == "grid":
        size = math.prod(len(values) for values in spec.grid().values())
        if overrides["trials"] != size:
            raise SearchSpaceError(
                one_line(
                    f"{path}: {flags['trials']} {overrides['trials']}: sampler grid runs each of its {size} points once, "
                    f"so its trials are fixed at {size}; expected no {flags['trials']} (or {size})"
                )
            )
    # What the file counts in epochs and trials, named from the override's side (SweepSpec._within_the_budget).
    grace, top_k = spec.scheduler.grace_period, spec.final.top_k
    if (
        overrides.get("epochs", grace) < grace
        and spec.scheduler.type == "asha"
        and grace != SchedulerSpec.model_fields["grace_period"].default
    ):
        raise SearchSpaceError(
            one_line(
                f"{path}: {flags['epochs']} {overrides['epochs']}: fewer epochs than scheduler.grace_period {grace} "
                f"(ASHA compares trials after grace_period epochs); expected {flags['epochs']} of at least {grace}"
            )
        )
    if overrides.get("trials", top_k) < top_k and spec.final.repeats:
        raise SearchSpaceError(
            one_line(
                f"{path}: {flags['trials']} {overrides['trials']}: fewer trials than final.top_k {top_k} (the best "
                f"configurations re-run after the search); expected {flags['trials']} of at least {top_k}"
            )
        )
    if not overrides:
        return spec
    try:
        return SweepSpec.model_validate({**spec.model_dump(), "budget": {**spec.budget.model_dump(), **overrides}})
    except ValidationError as error:
        named = ", ".join(f"{flags[key]} {value}" for key, value in overrides.items())
        raise SearchSpaceError(one_line(f"{path}: {named}: {_explain(error)}")) from None
