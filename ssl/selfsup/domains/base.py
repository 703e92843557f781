"""A data domain: the kind of data a sweep runs on, and everything that has to fit it.

Time series, images and seismic sections differ in what their data sources yield, which backbones can read
them, which augmentations keep a view meaningful, and how a pretrained backbone is evaluated (series-level
classification, image classification, per-pixel facies segmentation). A :class:`Domain` gathers those
choices in one object, picked by the data source a search-space file names (``domain_of_source``), so that:

- the sweep's validation (``trainables.searchspace``) can refuse any combination that does not fit, with a
  message naming both sides: a backbone that cannot read the data, an augmentation of another domain (some
  with a reason, e.g. colour jitter on seismic amplitudes), an evaluation protocol that does not apply;
- the trainer (``selfsup.pretrain``, ``trainables/``) asks the domain for the data, the augmenter and the
  evaluation, and has no special case per domain.

A domain is told only what it reads: its ``DataSpec`` (below: the data sets and this domain's options, its
``Data``), the ``EvaluationSpec`` of ``selfsup.specs``, the seed, the objective's name, and for the checks before a sweep starts the searched dimensions and fixed values of the
hyperparameters. Adding a domain is one module in this package with a ``Domain`` subclass decorated with
``@DOMAINS.register("name")``, plus its import line in ``domains/__init__.py``; a subclass that leaves a hook
abstract fails when it is instantiated, which ``domain_named`` does at import.
"""

from __future__ import annotations

import abc
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Mapping, Protocol, TypeVar

from pydantic import (
    Field,
    SerializeAsAny,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from selfsup.data.sources import DataSource
from selfsup.messages import first_message
from selfsup.registry import Registry
from selfsup.specs import StrictModel
from selfsup.trial_params import TrialParams

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from selfsup.data.prepared import PreparedData
    from selfsup.specs import EvaluationSpec


# A domain's own hyperparameter and data models (``Domain[ImageTrialParams, ImageData]``): what its hooks are given.
ParamsT = TypeVar("ParamsT", bound=TrialParams)
DataT = TypeVar("DataT", bound="DataSpec")


class SearchedDimension(Protocol):
    """What a domain reads of a searched hyperparameter (a search-space file's ``search:`` entry)."""

    type: str
    log: bool

    def extremes(self) -> list[Any]: ...

    def grid_values(self) -> list[Any]: ...


def cross_validated(objective: str) -> bool:
    """Whether the sweep's objective is a cross-validated metric (``cv/...``)."""
    from selfsup.evaluation.metric_names import parse_eval_metric_name

    parsed = parse_eval_metric_name(objective)
    return parsed is not None and parsed.split == "cv"


def check_cv_folds(objective: str, evaluation: EvaluationSpec, labels, units: str, data: str) -> None:
    """``DataError`` when a cross-validated objective (``cv/...``) asks for more ``evaluation.cv_folds`` than
    its labelled units allow: the folds are stratified, so each holds every class only while there are no more
    folds than units of the smallest class (``labels``: the class of every labelled unit, training and
    validation; ``units``: "series", "windows" or "images"). ``cross_validated_metric`` would otherwise lower
    the folds to that count without a word."""
    import numpy as np

    from selfsup.data.errors import DataError

    if not cross_validated(objective):
        return
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    counts = counts[counts > 0]
    smallest = int(counts.min()) if len(counts) else 0
    folds = evaluation.cv_folds
    if folds > max(2, smallest):  # the folds cross_validated_metric would run with otherwise
        raise DataError(
            f"evaluation.cv_folds {folds} is more than objective {objective} can use: the "
            f"{int(counts.sum())} labelled {units} of {data} (training + validation) hold {smallest} of "
            f"their smallest class, and every stratified fold needs one of each class; expected "
            f"cv_folds <= {max(2, smallest)}"
        )


class Domain(abc.ABC, Generic[ParamsT, DataT]):
    """One kind of data. Subclasses set the class attributes and implement the abstract data, training and
    evaluation hooks. They name their models twice: ``Domain[ImageTrialParams, ImageData]`` types the hooks'
    arguments, ``Params`` and ``Data`` are read at run time (a ClassVar cannot hold a type variable)."""

    name: ClassVar[str]  # registry name, e.g. "timeseries"
    description: ClassVar[str]  # for messages, e.g. "time series"
    Params: ClassVar[type[TrialParams]]  # shared hyperparameters plus this domain's input size / augmentations
    Data: ClassVar[type[DataSpec]]  # pretext and downstream data sets plus this domain's data options
    sources: ClassVar[Mapping[str, DataSource]]  # source name -> what its spec needs and its loader
    task: ClassVar[str]  # "classification" or "segmentation"
    batch_axes: ClassVar[tuple[str, ...]] = ("batch", "channels", "height", "width")  # of a training batch
    # Evaluation protocols that apply, the ones run when a sweep names none, and the metrics each reports.
    protocols: ClassVar[tuple[str, ...]]
    default_protocols: ClassVar[tuple[str, ...]]
    metrics: ClassVar[tuple[str, ...]]
    report_metrics: ClassVar[tuple[str, ...]]  # the report's columns; the first is the headline (gains)
    default_label_fractions: ClassVar[tuple[float, ...]] = (1.0,)
    default_objective: ClassVar[str]
    # Hyperparameters of other domains that are refused here with a reason (beyond "not a <domain> parameter").
    refused_params: ClassVar[Mapping[str, str]] = {}
    # Data options of other domains that are refused here with a reason (beyond "belongs to another domain").
    refused_data: ClassVar[Mapping[str, str]] = {}
    # Validation metrics reported every epoch besides the objective (the online kNN accuracy).
    online_metrics: ClassVar[tuple[str, ...]] = ("val/knn/acc/frac_1.0",)

    def check_sweep(self, data: DataT, search: Mapping[str, SearchedDimension], fixed: Mapping[str, Any]) -> None:
        """Raise ValueError for a sweep setting this domain cannot run (beyond what the shared checks
        cover), e.g. a crop larger than the patches it is cut from: ``search`` holds the searched dimensions,
        ``fixed`` the fixed hyperparameter values. The default accepts anything."""

    def describe_data(self, data: DataT) -> str:
        """This domain's data options in a few words, for the dry run's plan (empty: none to tell)."""
        return ""

    def describe_evaluation(self, evaluation: EvaluationSpec) -> str:
        """What this domain's evaluation scores, in a few words, for the dry run's plan (empty: none to tell)."""
        return ""

    def split_record(self, data: DataT, seed: int) -> dict | None:
        """How the labelled data was split, recorded with the sweep in MLflow (None: nothing to add)."""
        return None

    # ---- data
    @abc.abstractmethod
    def check_data(self, data: DataT) -> None:
        """Raise ``DataError`` when the sweep's ``DataSpec`` cannot be loaded (missing files, mismatched
        channels); loads as little as it can. Runs before Ray starts."""

    def check_input_sizes(
        self,
        data: DataT,
        evaluation: EvaluationSpec,
        objective: str,
        search: Mapping[str, SearchedDimension],
        fixed: Mapping[str, Any],
        *,
        bundled_only: bool = False,
    ) -> None:
        """Raise ``DataError`` when something the sweep can draw or names does not fit its data: an input size
        (fixed, searched or the data's default), e.g. a time-series window longer than every series or a
        seismic patch larger than a section; an ``objective``'s class the data lacks; more cross-validation
        folds than the labelled units allow (``check_cv_folds``). Runs before Ray starts, after ``check_data``;
        ``bundled_only`` (the dry run) looks only at data shipped with the installed packages (or, as for
        synthetic seismic, made from the file's options), so planning a sweep needs no data files. The default
        accepts anything."""

    @abc.abstractmethod
    def data_arguments(self, data: DataT, seed: int, params: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON-serialisable arguments of ``prepare_data`` for a trial with ``params`` (read only where a
        hyperparameter changes the data, e.g. a searched window length): the key under which prepared data
        is cached and shared."""

    @abc.abstractmethod
    def prepare_data(self, *args: Any, **arguments: Any) -> PreparedData:
        """Load, clean, split and standardise the data: a ``selfsup.data.prepared.PreparedData``. Called with the
        keywords ``data_arguments`` returns, which each domain names in its own signature (``*args: Any,
        **arguments: Any`` is how a signature says so: overrides may take any parameters)."""

    # ---- training
    @abc.abstractmethod
    def build_augmenter(self, params: ParamsT, seed: int):
        """The trial's view generator: ``views(x, n) -> list[Tensor]`` and ``reseed(seed)``."""

    # ---- evaluation
    def evaluation_model(self, backbone: nn.Module, params: ParamsT) -> nn.Module:
        """The backbone as evaluation should call it for a trial with ``params``: by default the backbone
        itself. A domain whose training views differ in scale from its stored examples wraps it, so the
        encoder is scored on inputs like those it learned from (the image domain resizes to ``input_size``)."""
        return backbone

    def embedding_table(
        self, backbone: nn.Module, data: PreparedData, evaluation: EvaluationSpec, seed: int, device: torch.device
    ):
        """The frozen embeddings of the evaluation units of every split as a table (``split``, ``label``,
        ``unit``, ``f0``...; see ``selfsup.evaluation.classification.embedding_table``) for the report's t-SNE
        maps, or None where the domain has none (seismic: no per-unit label)."""
        return None

    def example_prediction(
        self,
        backbone: nn.Module,
        data: PreparedData,
        evaluation: EvaluationSpec,
        seed: int,
        device: torch.device,
        objective: str,
    ) -> dict[str, np.ndarray] | None:
        """One evaluation example with the report's downstream model's prediction, for the report's figure
        "input | ground truth | prediction", as a dict of numpy arrays (saved with ``numpy.savez``), or None
        where the domain has none (the default; classification is shown by its t-SNE maps). Seismic: one test
        section, ``section`` (H, W) float32 amplitudes as the model read them, ``truth`` and ``prediction``
        (H, W) int64 class indices, ``class_names`` (str), ``protocol``, ``fraction`` and ``index`` (0-d); see
        ``selfsup.evaluation.segmentation.example_prediction``. Deterministic: the same arrays for the same
        backbone, data, evaluation, seed and objective."""
        return None

    @abc.abstractmethod
    def evaluate(
        self,
        backbone: nn.Module,
        data: PreparedData,
        evaluation: EvaluationSpec,
        seed: int,
        device: torch.device,
        *,
        include_test: bool,
        prefix: str = "",
    ) -> dict[str, float]:
        """Every protocol of ``evaluation`` at every label fraction, on val (and test), plus health."""

    @abc.abstractmethod
    def validation_metrics(
        self,
        backbone: nn.Module,
        data: PreparedData,
        evaluation: EvaluationSpec,
        seed: int,
        device: torch.device,
        names: list[str],
    ) -> dict[str, float]:
        """The health metrics plus the named selection metrics, computed as ``evaluate`` computes them."""

    def evaluation_unit(self, evaluation: EvaluationSpec) -> str:
        """What one evaluation unit is, plural, for "40 test series": ``test_units`` counts them."""
        return "examples"

    def test_units(self, data: PreparedData, evaluation: EvaluationSpec) -> int:
        """How many test units a test score is over (``TEST_UNITS_METRIC``): by default every test example
        (an image, a seismic section); a domain that pools examples into units counts the units."""
        return len(data.test.x)

    # ---- helpers for validation messages
    def metric_applies(self, protocol: str, metric: str) -> bool:
        return protocol in self.protocols and metric in self.metrics

    def __repr__(self) -> str:
        return f"<domain {self.name}>"


def check_domain_class(name: str, entry: object) -> None:
    """``TypeError`` naming ``entry`` unless it is a ``Domain`` subclass registered under its own ``name``."""
    if not (isinstance(entry, type) and issubclass(entry, Domain)):
        raise TypeError(f"domain '{name}': {entry!r} is not a Domain subclass")
    if getattr(entry, "name", None) != name:
        raise TypeError(
            f"domain '{name}': {entry.__module__}.{entry.__qualname__}.name is {getattr(entry, 'name', None)!r}; "
            f"expected '{name}'"
        )


DOMAINS: Registry[type[Domain]] = Registry("domain", check_entry=check_domain_class)


@functools.cache
def domain_named(name: str) -> Domain:
    """The registered domain ``name``, one instance per process (domains hold no state)."""
    return DOMAINS.get(name)()


def all_sources() -> dict[str, str]:
    """Every data source name -> the name of its domain."""
    return {source: name for name in DOMAINS for source in DOMAINS.get(name).sources}


def domain_of_source(source: str) -> Domain:
    """The domain whose data sources include ``source`` (``UnknownNameError``-like ValueError otherwise)."""
    owners = all_sources()
    if source not in owners:
        raise ValueError(f"unknown data source '{source}'; known: {', '.join(sorted(owners))}")
    return domain_named(owners[source])


# ------------------------------------------------------------------------------ a sweep's data, of one domain
class DatasetSpec(StrictModel):
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
        if needs.known_names is not None:
            known = needs.known_names()
            if self.name not in known:
                raise ValueError(f"{self.source} has no bundled data set '{self.name}'; bundled: {', '.join(known)}")
        return self

    @property
    def domain(self) -> Domain:
        return domain_of_source(self.source)

    def label(self) -> str:
        return self.name or Path(self.path or "").name or self.source


class DataSpec(StrictModel):
    """A sweep's pretext data (what the method trains on, labels unread) and downstream data (what it is scored
    on), of one domain. Each domain extends it with its own options (``Domain.Data``: the windows of time series,
    the sections of seismic volumes); ``DomainData`` validates a search-space file's ``data`` with the extension
    of its domain, so the sweep's schema names none."""

    pretext: DatasetSpec
    downstream: DatasetSpec

    @model_validator(mode="after")
    def _one_domain(self) -> "DataSpec":
        pretext, downstream = self.pretext.domain, self.downstream.domain
        if pretext is not downstream:
            raise ValueError(
                f"pretext data {self.pretext.source} is {pretext.description} but downstream data "
                f"{self.downstream.source} is {downstream.description}; both must be one domain"
            )
        return self

    @property
    def domain(self) -> Domain:
        return self.downstream.domain


class CarvedValidation(StrictModel):
    """The option of domains whose validation units are carved from the training split (time series, images)."""

    validation_fraction: float = Field(
        0.2, gt=0, lt=1, description="carves validation units from the training split, stratified and seeded"
    )


def _domain_data(value: Any, handler: ValidatorFunctionWrapHandler) -> DataSpec:
    """``value`` validated by the data model of its domain (``Domain.Data``), picked by its downstream source. An
    option of another domain is refused naming both sides; a mapping whose domain cannot be told (no or an unknown
    source) is left to ``DataSpec``, which says what is wrong with it."""
    if isinstance(value, DataSpec):
        if type(value) is value.domain.Data:
            return value
        value = value.model_dump()  # a plain DataSpec, or another domain's: validated as what its data is
    downstream = value.get("downstream") if isinstance(value, dict) else None
    source = (
        downstream.get("source", DatasetSpec.model_fields["source"].default) if isinstance(downstream, dict) else None
    )
    owner = all_sources().get(source) if isinstance(source, str) else None
    if owner is None:
        return handler(value)
    domain = domain_named(owner)
    for key in value:
        if key in domain.Data.model_fields:
            continue
        if key in domain.refused_data:
            raise ValueError(f"'{key}' does not apply to {domain.description}: {domain.refused_data[key]}; remove it")
        others = (domain_named(other).Data.model_fields.get(key) for other in DOMAINS if other != owner)
        field = next((field for field in others if field is not None and field.description), None)
        if field is not None:
            raise ValueError(f"'{key}' {field.description}, but data {source} is {domain.description}; remove it")
        raise ValueError(f"unknown key '{key}'; expected one of: {', '.join(domain.Data.model_fields)}")
    return domain.Data.model_validate(value)


#: A search-space file's ``data``: validated and dumped as its domain's ``Domain.Data``.
DomainData = Annotated[SerializeAsAny[DataSpec], WrapValidator(_domain_data)]
