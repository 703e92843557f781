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

A domain is told only what it reads: the ``DataSpec`` and ``EvaluationSpec`` of ``selfsup.specs``, the seed,
the objective's name, and for the checks before a sweep starts the searched dimensions and fixed values of the
hyperparameters. Adding a domain is one module in this package with a ``Domain`` subclass decorated with
``@DOMAINS.register("name")``, plus its import line in ``domains/__init__.py``; a subclass that leaves a hook
abstract fails when it is instantiated, which ``domain_named`` does at import.
"""

from __future__ import annotations

import abc
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generic, Mapping, Protocol, Sequence, TypeVar

from pydantic import BaseModel

from selfsup.data.dataset_specs import spec_field
from selfsup.registry import Registry
from selfsup.trial_params import TrialParams

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from selfsup.data.prepared import PreparedData
    from selfsup.specs import DataSpec, EvaluationSpec


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


@dataclass(frozen=True)
class DataSource:
    """One data source of a domain, the one place it is defined: what its ``DatasetSpec`` needs (a ``name``, e.g.
    an aeon set; a ``path``, a directory or file, and what a missing one should be told; ``options``) and the
    function that loads it.

    ``loader(name, path, *, train_only=False, **options)`` gets the spec's name and path (None where absent) and
    its options validated by ``options`` (with their defaults) as keywords, and returns the splits of its domain:
    ``{"train", "test"[, "validation"]}`` of ``SeriesSet`` (time series) or ``ImageSet`` (images) with one class
    mapping across them, ``{"volume"[, "test"]}`` of ``SeismicVolume`` (seismic: the volume whose inline blocks
    are split, and a test volume of its own); ``train_only`` loads only the training split (seismic: the volume).
    A loader that needs a heavy library (aeon, torchvision, scipy) imports it when called, so that importing the
    domain stays cheap."""

    loader: Callable[..., dict[str, Any]]
    needs_name: bool = False
    needs_path: bool = False
    path_hint: str = "a directory"
    options: type[BaseModel] | None = None  # the model that validates the spec's ``options``, if it takes any
    # The names it can load where they are known without reading anything (aeon's bundled sets), else None.
    known_names: Callable[[], Sequence[str]] | None = None
    # Its class names where they are known without reading any data (``class_names(**options)``: the synthetic
    # seismic generator's ``n_facies``, F3's six units), else None.
    class_names: Callable[..., list[str]] | None = None
    labelled: bool = True  # False: the data has no labels, so it can only be pretext data
    # Shipped with the installed packages, or made from the spec alone: a dry run checks its sizes too.
    bundled: bool = False
    # The shape of what it loads where its options alone give it (``shape(**options)``: the synthetic seismic
    # generator's volume), else None.
    shape: Callable[..., tuple[int, ...]] | None = None

    def option_values(self, spec: Any) -> dict[str, Any]:
        """The spec's ``options`` validated by this source's model, defaults filled in ({} for a source without
        options)."""
        return self.options(**(spec_field(spec, "options") or {})).model_dump() if self.options else {}

    def load(self, spec: Any, *, train_only: bool = False) -> dict[str, Any]:
        """The splits of ``spec`` (a ``DatasetSpec`` or its JSON dict) as ``loader`` returns them."""
        name, path = spec_field(spec, "name"), spec_field(spec, "path")
        return self.loader(name, path, train_only=train_only, **self.option_values(spec))

    def known_shape(self, spec: Any) -> tuple[int, ...] | None:
        """The shape of what ``spec`` loads known without reading any data, else None."""
        return None if self.shape is None else self.shape(**self.option_values(spec))

    def known_class_names(self, spec: Any) -> list[str] | None:
        """The class names of ``spec`` known without reading any data, else None."""
        return None if self.class_names is None else self.class_names(**self.option_values(spec))


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
