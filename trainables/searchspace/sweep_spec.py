"""The search-space file's schema: one ``SweepSpec`` per sweep, validated before anything starts.

Data flows one way: YAML -> ``SweepSpec`` (this module) -> trial hyperparameters (``TrialParams`` plus the
method's own ``Params``) -> trainable -> library -> metrics. The library's own settings (``DataSpec``,
``EvaluationSpec``, the hyperparameter models) come from ``selfsup``; the search, the budget, the resources, the
scheduler, the sampler and the objective are the sweep's.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from selfsup.backbones import BACKBONES
from selfsup.domains import DOMAINS, Domain
from selfsup.domains.base import DomainData
from selfsup.evaluation.metric_names import (
    FINETUNE_PROTOCOL,
    HEALTH_METRICS,
    SELECTION_SPLITS,
    TRAINING_METRICS,
    format_fraction,
    parse_eval_metric_name,
)
from selfsup.messages import first_message
from selfsup.methods import METHODS, MethodParams
from selfsup.specs import EvaluationSpec, StrictModel
from selfsup.trial_params import PROJECTOR_PARAMS, TrialParams
from trainables.searchspace.dimensions import Dimension


class ObjectiveSpec(StrictModel):
    # None: the domain's default (time series: cv/linear/f1/frac_0.1, cross-validated, so small labelled sets
    # can still rank configurations; docs/guide/objectives.md: choosing an objective).
    metric: str | None = None
    mode: Literal["min", "max"] = "max"


# ---------------------------------------------------------------------------------- search / budget
class BudgetSpec(StrictModel):
    trials: int = Field(8, ge=1)
    epochs: int = Field(20, ge=1)
    # None: as many trials at once as the nodes' CPUs, GPUs and memory hold (trainables.sweep.resources).
    max_concurrent: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(5, ge=1)


GIB = 1024**3  # bytes: Ray counts memory in bytes, a search-space file in GiB
# A Tune trial that launches Ray Train workers only waits on them, so it holds no CPU: every core goes to the
# workers, and two 1-CPU trials run at once on 2 cores (with {"CPU": 0.01} they need 2.02 and run one at a time).
# Tune refuses an empty request, so it asks for a little memory instead.
LAUNCHER_REQUEST = {"CPU": 0.0, "memory": 256 * 1024**2}


class ResourcesSpec(StrictModel):
    workers: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    # Memory each worker reserves on its node, in GiB (Ray's ``memory`` resource): Ray then starts no more
    # workers on a node than its memory holds, where without it a node fills up and Ray's memory monitor kills
    # trials. 0 reserves none (Ray's default).
    memory_gib_per_worker: float = Field(0.0, ge=0)
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

    def trial_process(self) -> dict[str, float]:
        """What the Tune trial's own process asks Ray for: one worker's request where it trains itself, the
        launcher's (``LAUNCHER_REQUEST``) where its Ray Train workers train."""
        return dict(LAUNCHER_REQUEST) if self.uses_ray_train else self.per_worker()

    def per_worker(self) -> dict[str, float]:
        """What one worker asks Ray for, in Ray's resource names (memory in bytes): the Tune trial's request when
        it trains in its own process, each Ray Train worker's otherwise."""
        request = {"CPU": self.cpus_per_worker}
        if self.gpus_per_worker > 0:
            request["GPU"] = self.gpus_per_worker
        if self.memory_gib_per_worker > 0:
            request["memory"] = self.memory_gib_per_worker * GIB
        return request


class SchedulerSpec(StrictModel):
    type: Literal["asha", "fifo"] = "asha"
    # Epochs every trial runs before ASHA compares it: at most budget.epochs (SweepSpec._within_the_budget);
    # the default, 2, becomes 1 in a one-epoch budget.
    grace_period: int = Field(2, ge=1)
    reduction_factor: float = Field(2.0, gt=1)


class FinalSpec(StrictModel):
    """After the search: the ``top_k`` best configurations re-run ``repeats`` times with new training seeds
    (``top_k`` at most ``budget.trials``: SweepSpec._within_the_budget); ``registry``: each backbone's selected
    trial registered in the MLflow Model Registry, where champions are kept (``trainables/sweep/registry.py``);
    false leaves the registry alone (an exploratory sweep, or one whose checkpoints the driver cannot read)."""

    repeats: int = Field(0, ge=0)
    top_k: int = Field(1, ge=1)
    registry: bool = True


class SamplerSpec(StrictModel):
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

    def describe(self, startup_count: int) -> str:
        """The sampler in a few words, for the dry run. ``startup_count``: how many trials TPE draws at random
        (``searcher.startup_trial_count``, which knows Optuna's default; this module does not import Optuna)."""
        if self.type in ("random", "grid"):
            return self.type
        return f"TPE ({startup_count} random start-up trials; constant liar for concurrent trials)"


class HealthSpec(StrictModel):
    # Normalised embedding std (1 = spread like an isotropic Gaussian, 0 = collapsed); below the floor
    # after ``grace_epochs`` the trial is ended as collapsed.
    collapse_std_floor: float = Field(0.02, ge=0)
    grace_epochs: int = Field(1, ge=0)


def split_trial_params(method: str, values: dict[str, Any], domain: str) -> tuple[TrialParams, MethodParams]:
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


class MethodChoice(StrictModel):
    """One method of a sweep that searches across methods (``methods:``): its own searched and fixed
    hyperparameters, beside the shared ones of the file's ``search`` and ``fixed``."""

    search: dict[str, Dimension] = Field(default_factory=dict)
    fixed: dict[str, Any] = Field(default_factory=dict)


# The trial parameter that names a multi-method sweep's method (Optuna samples it first; MLflow logs it).
METHOD_PARAM = "method"


class SweepSpec(StrictModel):
    # The name becomes a directory name (the Ray experiment's, with a date and id appended; the report's) and
    # part of the MLflow experiment's (256 characters at most): 128 leaves room for what is appended.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=128)
    description: str = ""
    # One method, or (``methods``) several, each with its own searched and fixed hyperparameters: the search then
    # picks the method first (``METHOD_PARAM``) and only that method's parameters (``for_method``).
    method: str | None = None
    methods: dict[str, MethodChoice] | None = None
    seed: int = Field(0, ge=0, lt=2**31)  # NumPy and Optuna refuse negative seeds (final repeats add to it)
    data: DomainData
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

    @field_validator("method")
    @classmethod
    def _known_method(cls, name: str | None) -> str | None:
        return None if name is None else METHODS.check(name)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: dict[str, MethodChoice] | None) -> dict[str, MethodChoice] | None:
        if methods is not None:
            if not methods:
                raise ValueError("methods is empty; name the methods to search across, or use method: <name>")
            for name in methods:
                METHODS.check(name)
        return methods

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
        if (self.method is None) == (self.methods is None):
            raise ValueError(
                "name the method: method: <name> for one, or methods: {<name>: {search: ..., fixed: ...}, ...} "
                "to search across several"
                if self.method is None
                else "method and methods both given; keep method for one method, methods to search across several"
            )
        if self.methods is not None:
            self._check_methods()
            return self
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

    # ---- several methods in one sweep
    @property
    def method_names(self) -> list[str]:
        """The sweep's method, or the methods it searches across in the file's order."""
        return list(self.methods) if self.methods is not None else [str(self.method)]

    @property
    def searches(self) -> bool:
        """Whether there is anything for a searcher to draw (a sweep across methods draws at least the method)."""
        return bool(self.search) or self.methods is not None

    def searched_names(self) -> list[str]:
        """The hyperparameters the search varies, in the file's order: what names a trial (``records.names``) and
        the report's grids read. Across methods: the method first, the shared ones, then each method's own."""
        if self.methods is None:
            return list(self.search)
        own = [key for choice in self.methods.values() for key in choice.search]
        return list(dict.fromkeys([METHOD_PARAM, *self.search, *own]))

    def for_method(self, name: str) -> "SweepSpec":
        """The single-method sweep a trial of method ``name`` runs: the shared searched and fixed hyperparameters
        with the method's own (itself where the sweep has one method)."""
        if self.methods is None:
            if name != self.method:
                raise ValueError(f"sweep {self.name} runs method '{self.method}', not '{name}'")
            return self
        if name not in self.methods:
            raise ValueError(f"sweep {self.name} searches methods {', '.join(self.methods)}, not '{name}'")
        choice = self.methods[name]
        return SweepSpec.model_validate(
            {
                **self.model_dump(mode="json", exclude={"methods", "method", "search", "fixed"}),
                "method": name,
                "search": {
                    **{k: d.model_dump(mode="json") for k, d in self.search.items()},
                    **{k: d.model_dump(mode="json") for k, d in choice.search.items()},
                },
                "fixed": {**self.fixed, **choice.fixed},
            }
        )

    def method_specs(self) -> dict[str, "SweepSpec"]:
        """Every method's single-method sweep (``for_method``): what each check per method runs on."""
        return {name: self.for_method(name) for name in self.method_names}

    def for_trial(self, params: dict[str, Any]) -> tuple["SweepSpec", dict[str, Any]]:
        """The single-method sweep of a trial with ``params`` and its complete hyperparameters: the method's
        defaults and fixed values under ``params`` (less ``METHOD_PARAM``, which names the method)."""
        name = params.get(METHOD_PARAM, self.method) if self.methods is not None else self.method
        spec = self.for_method(str(name))
        return spec, {**spec.default_params(), **{k: v for k, v in params.items() if k != METHOD_PARAM}}

    def _check_methods(self) -> None:
        """Each method of ``methods`` checked as its own single-method sweep would be (domain, hyperparameters
        by name, searched extremes, objective), the refusal naming it; what a multi-method sweep cannot do."""
        assert self.methods is not None
        for key in [*self.search, *self.fixed]:
            if key == METHOD_PARAM:
                raise ValueError(
                    f"'{METHOD_PARAM}' is chosen by the search across methods:; remove it from search/fixed"
                )
        metric = str(self.objective.metric)
        if metric.startswith("train/"):
            raise ValueError(
                f"objective.metric '{metric}' is each method's own loss, not comparable across methods; select "
                f"on a val/ or cv/ metric (e.g. {self.domain.default_objective})"
            )
        if self.sampler.type == "grid":
            raise ValueError("sampler grid searches one method's grid; a sweep across methods: uses tpe or random")
        for name, choice in self.methods.items():
            for key in [*choice.search, *choice.fixed]:
                if key in self.search or key in self.fixed:
                    raise ValueError(f"methods.{name}: '{key}' is also a shared hyperparameter; keep one")
                own = METHODS.get(name).Params.model_fields
                if key not in own and key not in self.domain.Params.model_fields:
                    raise ValueError(
                        f"methods.{name}: '{key}' is not a parameter of {name}; its own parameters: "
                        f"{', '.join(own) or 'none'} (and the shared hyperparameters)"
                    )
            try:
                self.for_method(name)
            except ValueError as error:  # the single-method sweep's own refusal, named after its method
                raise ValueError(f"methods.{name}: {first_message(error).removeprefix('Value error, ')}") from None

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
        if self.resources.channels_last and len(domain.batch_axes) != 4:
            raise ValueError(
                f"resources.channels_last lays out 4-D image batches, but {data} is "
                f"{domain.description}, whose batches are {len(domain.batch_axes)}-D "
                f"({', '.join(domain.batch_axes)}); remove it"
            )
        domain.check_sweep(self.data, self.search, self.fixed)
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
        if self.evaluation.supervised_baseline and any(METHODS.get(name).uses_labels for name in self.method_names):
            labelled = next(name for name in self.method_names if METHODS.get(name).uses_labels)
            raise ValueError(
                f"evaluation.supervised_baseline compares an SSL method with supervised training; "
                f"method '{labelled}' already trains on labels"
            )
        return self

    @model_validator(mode="after")
    def _within_the_budget(self) -> "SweepSpec":
        """Settings counted in epochs or trials fit the budget: Tune and the final re-runs would otherwise lower
        them without a word while the dry run printed what was asked."""
        scheduler, epochs = self.scheduler, self.budget.epochs
        if scheduler.type == "asha" and scheduler.grace_period > epochs:
            if "grace_period" in scheduler.model_fields_set:  # given by the file, not the default
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
        if self.methods is not None:  # the shared ones; each method's own come with its trials (for_trial)
            shared = self.domain.Params(**self.fixed).model_dump()
            per_method = {key for choice in self.methods.values() for key in (*choice.fixed, *choice.search)}
            unused = (PROJECTOR_PARAMS - set(self.fixed)) | per_method
            return {k: v for k, v in shared.items() if k not in self.search and k not in unused}
        shared, own = split_trial_params(str(self.method), self.fixed, self.domain.name)
        values = {**shared.model_dump(), **own.model_dump()}
        unused = set() if METHODS.get(str(self.method)).uses_projector else PROJECTOR_PARAMS
        return {k: v for k, v in values.items() if k not in self.search and k not in unused}

    def supervised_baseline_spec(self) -> "SweepSpec":
        """This sweep with the supervised baseline as its method: same data, evaluation and budget."""
        return SweepSpec.model_validate(
            {
                **self.model_dump(mode="json", exclude={"methods"}),
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

    def check_input_sizes(self, *, bundled_only: bool = False) -> None:
        """Every input size this sweep can draw, its objective's class and its folds against its data
        (``Domain.check_input_sizes``); ``bundled_only``: only data shipped with the installed packages."""
        self.domain.check_input_sizes(
            self.data, self.evaluation, self.objective.metric, self.search, self.fixed, bundled_only=bundled_only
        )

    def optuna_space(self) -> dict[str, Any]:
        """Each searched hyperparameter's Optuna distribution (one method; see ``suggest`` for several)."""
        return {key: dimension.optuna_distribution() for key, dimension in self.search.items()}

    def suggest(self, trial) -> dict[str, Any]:
        """An Optuna trial's point, defined by run: the method first (``METHOD_PARAM``, where the sweep searches
        across methods), then the shared searched hyperparameters and that method's own, so no method's parameter
        is ever drawn for another."""
        params: dict[str, Any] = {}
        search = dict(self.search)
        if self.methods is not None:
            name = trial.suggest_categorical(METHOD_PARAM, list(self.methods))
            params[METHOD_PARAM] = name
            search.update(self.methods[name].search)
        for key, dimension in search.items():
            params[key] = dimension.suggest(trial, key)
        return params


def _list_domains(names) -> str:
    return " and ".join(DOMAINS.get(name).description if name in DOMAINS else name for name in names)
