"""A data domain: the kind of data a sweep runs on, and everything that has to fit it.

Time series, images and seismic sections differ in what their data sources yield, which backbones can read
them, which augmentations keep a view meaningful, and how a pretrained backbone is evaluated (series-level
classification, image classification, per-pixel facies segmentation). A :class:`Domain` gathers those
choices in one object, picked by the data source a search-space file names (``domain_of_source``), so that:

- the sweep's validation (``selfsup.config``) can refuse any combination that does not fit, with a message
  naming both sides: a backbone that cannot read the data, an augmentation of another domain (some with a
  reason, e.g. colour jitter on seismic amplitudes), an evaluation protocol that does not apply;
- the trainer (``selfsup.pretrain``, ``trainables/``) asks the domain for the data, the augmenter and the
  evaluation, and has no special case per domain.

Adding a domain is one module in this package registered with ``@DOMAINS.register``-style registration of
an instance, plus its import line in ``domains/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from pydantic import BaseModel

from selfsup.trial_params import TrialParams


def cross_validated(spec) -> bool:
    """Whether the sweep's objective is a cross-validated metric (``cv/...``)."""
    from selfsup.evaluation.metric_names import parse_eval_metric_name

    parsed = parse_eval_metric_name(spec.objective.metric or "")
    return parsed is not None and parsed.split == "cv"


def check_cv_folds(spec, labels, units: str, data: str) -> None:
    """``DataError`` when a cross-validated objective (``cv/...``) asks for more ``evaluation.cv_folds`` than
    its labelled units allow: the folds are stratified, so each holds every class only while there are no more
    folds than units of the smallest class (``labels``: the class of every labelled unit, training and
    validation; ``units``: "series", "windows" or "images"). ``cross_validated_metric`` would otherwise lower
    the folds to that count without a word."""
    import numpy as np

    from selfsup.data.errors import DataError

    if not cross_validated(spec):
        return
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    counts = counts[counts > 0]
    smallest = int(counts.min()) if len(counts) else 0
    folds = spec.evaluation.cv_folds
    if folds > max(2, smallest):  # the folds cross_validated_metric would run with otherwise
        raise DataError(
            f"evaluation.cv_folds {folds} is more than objective {spec.objective.metric} can use: the "
            f"{int(counts.sum())} labelled {units} of {data} (training + validation) hold {smallest} of "
            f"their smallest class, and every stratified fold needs one of each class; expected "
            f"cv_folds <= {max(2, smallest)}"
        )


@dataclass(frozen=True)
class SourceFields:
    """What a data source needs in its ``DatasetSpec``: a ``name`` (e.g. an aeon set), a ``path`` (a directory
    or file), and what a missing one should be told."""

    needs_name: bool = False
    needs_path: bool = False
    path_hint: str = "a directory"
    options: type[BaseModel] | None = None  # the model that validates the spec's ``options``, if it takes any


class Domain:
    """One kind of data. Subclasses set the class attributes and implement the data and evaluation hooks."""

    name: ClassVar[str]  # registry name, e.g. "timeseries"
    description: ClassVar[str]  # for messages, e.g. "time series"
    Params: ClassVar[type[TrialParams]]  # shared hyperparameters plus this domain's input size / augmentations
    sources: ClassVar[Mapping[str, SourceFields]]
    task: ClassVar[str]  # "classification" or "segmentation"
    # Evaluation protocols that apply, the ones run when a sweep names none, and the metrics each reports.
    protocols: ClassVar[tuple[str, ...]]
    default_protocols: ClassVar[tuple[str, ...]]
    metrics: ClassVar[tuple[str, ...]]
    report_metrics: ClassVar[tuple[str, ...]]  # the report's columns; the first is the headline (gains)
    default_label_fractions: ClassVar[tuple[float, ...]] = (1.0,)
    default_objective: ClassVar[str]
    # Hyperparameters of other domains that are refused here with a reason (beyond "not a <domain> parameter").
    refused_params: ClassVar[Mapping[str, str]] = {}
    # Validation metrics reported every epoch besides the objective (the online kNN accuracy).
    online_metrics: ClassVar[tuple[str, ...]] = ("val/knn/acc/frac_1.0",)

    def check_sweep(self, spec) -> None:
        """Raise ValueError for a sweep setting this domain cannot run (beyond what the shared checks
        cover), e.g. a crop larger than the patches it is cut from. The default accepts anything."""

    def split_record(self, data, seed: int) -> dict | None:
        """How the labelled data was split, recorded with the sweep in MLflow (None: nothing to add)."""
        return None

    # ---- data
    def check_data(self, data) -> None:
        """Raise ``DataError`` when the sweep's ``DataSpec`` cannot be loaded (missing files, mismatched
        channels); loads as little as it can. Runs before Ray starts."""
        raise NotImplementedError

    def check_input_sizes(self, spec, *, bundled_only: bool = False) -> None:
        """Raise ``DataError`` when something the sweep can draw or names does not fit its data: an input size
        (fixed, searched or the data's default), e.g. a time-series window longer than every series or a
        seismic patch larger than a section; an objective's class the data lacks; more cross-validation folds
        than the labelled units allow (``check_cv_folds``). Runs before Ray starts, after ``check_data``;
        ``bundled_only`` (the dry run) looks only at data shipped with the installed packages (or, as for
        synthetic seismic, made from the file's options), so planning a sweep needs no data files. The default
        accepts anything."""

    def data_arguments(self, data, seed: int, params: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON-serialisable arguments of ``prepare_data`` for a trial with ``params`` (read only where a
        hyperparameter changes the data, e.g. a searched window length): the key under which prepared data
        is cached and shared."""
        raise NotImplementedError

    def prepare_data(self, **arguments):
        """Load, clean, split and standardise the data: a ``selfsup.data.prepare.PreparedData``."""
        raise NotImplementedError

    # ---- training
    def build_augmenter(self, params: TrialParams, seed: int):
        """The trial's view generator: ``views(x, n) -> list[Tensor]`` and ``reseed(seed)``."""
        raise NotImplementedError

    # ---- evaluation
    def evaluation_model(self, backbone, params: TrialParams):
        """The backbone as evaluation should call it for a trial with ``params``: by default the backbone
        itself. A domain whose training views differ in scale from its stored examples wraps it, so the
        encoder is scored on inputs like those it learned from (the image domain resizes to ``input_size``)."""
        return backbone

    def embedding_table(self, backbone, data, spec, device):
        """The frozen embeddings of the evaluation units of every split as a table (``split``, ``label``,
        ``unit``, ``f0``...; see ``selfsup.evaluation.classification.embedding_table``) for the report's t-SNE
        maps, or None where the domain has none (seismic: no per-unit label)."""
        return None

    def example_prediction(self, backbone, data, spec, device):
        """One evaluation example with the report's downstream model's prediction, for the report's figure
        "input | ground truth | prediction", as a dict of numpy arrays (saved with ``numpy.savez``), or None
        where the domain has none (the default; classification is shown by its t-SNE maps). Seismic: one test
        section, ``section`` (H, W) float32 amplitudes as the model read them, ``truth`` and ``prediction``
        (H, W) int64 class indices, ``class_names`` (str), ``protocol``, ``fraction`` and ``index`` (0-d); see
        ``selfsup.evaluation.segmentation.example_prediction``. Deterministic: the same arrays for the same
        backbone, data and spec."""
        return None

    def evaluate(self, backbone, data, spec, device, *, include_test: bool, prefix: str = "") -> dict[str, float]:
        """Every protocol of ``spec.evaluation`` at every label fraction, on val (and test), plus health."""
        raise NotImplementedError

    def validation_metrics(self, backbone, data, spec, device, names: list[str]) -> dict[str, float]:
        """The health metrics plus the named selection metrics, computed as ``evaluate`` computes them."""
        raise NotImplementedError

    # ---- helpers for validation messages
    def metric_applies(self, protocol: str, metric: str) -> bool:
        return protocol in self.protocols and metric in self.metrics

    def __repr__(self) -> str:
        return f"<domain {self.name}>"
