"""The time-series domain: wearable-sensor and UCR/UEA series cut into windows, classified per series.

Sources (``TimeSeriesDomain.sources``, loaders in ``selfsup.data.timeseries``): aeon's bundled UCR/UEA sets,
UCR/UEA ``.ts`` files, CSV sensor logs. Backbones read (batch, channels, length) windows (conv1d, dilated_conv1d,
gru). Augmentations are the batched time-series family of ``selfsup.augmentations.timeseries``, each with a
strength (0 switches it off). The input size is the window length (``window_length``, searchable; each distinct
value is windowed once per sweep). Evaluation: readouts on frozen features, or (``finetune``, opt-in) the backbone
fine-tuned with a linear head, per series (window embeddings, or fine-tuned logits, averaged, as UCR/UEA scores
are) or per window (``evaluation.unit: window``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from pydantic import Field, model_validator

from selfsup.augmentations.timeseries import AUGMENTATIONS, TimeSeriesAugmenter, check_strength
from selfsup.data.timeseries.sources import TIME_SERIES_SOURCES
from selfsup.domains.base import (
    DOMAINS,
    CarvedValidation,
    DataSpec,
    Domain,
    check_cv_folds,
    cross_validated,
)
from selfsup.evaluation.metric_names import CLASSIFICATION_PROTOCOLS, EVAL_METRICS, PROTOCOLS
from selfsup.specs import EvaluationSpec, StrictModel
from selfsup.trial_params import TrialParams

if TYPE_CHECKING:
    from selfsup.data.prepared import PreparedData


class TimeSeriesTrialParams(TrialParams):
    """The shared hyperparameters plus the window length and the time-series augmentation strengths."""

    # The input size: windows of this many steps instead of data.window.length (searchable: the reference
    # reports searched input size; each distinct length is prepared once per sweep).
    window_length: int | None = Field(None, ge=4)
    # Augmentation strengths (0 switches one off); ranges are checked by the augmentations module.
    aug_jitter: float = 0.1
    aug_scaling: float = 0.1
    aug_magnitude_warp: float = 0.2
    aug_time_warp: float = 0.2
    aug_crop_resize: float = 0.3
    aug_blockout: float = 0.1
    aug_flip: float = 0.0
    aug_negate: float = 0.0
    aug_smooth: float = 0.0

    @model_validator(mode="after")
    def _augmentation_strengths_in_range(self) -> "TimeSeriesTrialParams":
        for name in AUGMENTATIONS:
            check_strength(name, getattr(self, f"aug_{name}"))
        return self

    def augmentation_strengths(self) -> dict[str, float]:
        return {name: getattr(self, f"aug_{name}") for name in AUGMENTATIONS}


class WindowSpec(StrictModel):
    """Windows cut from each series: ``length`` steps, consecutive windows sharing ``overlap`` of them."""

    # Defaults by keyword: type checkers see a default only there (it is the ``default_factory`` of
    # TimeSeriesData.window, so it must be constructible without arguments).
    length: int = Field(default=60, ge=4)
    overlap: float = Field(default=0.5, ge=0, lt=1)


class TimeSeriesData(CarvedValidation, DataSpec):
    """``data`` of a time-series sweep: the data sets, the windows they are cut into, and optionally one length
    every series is resized to."""

    window: WindowSpec = Field(default_factory=WindowSpec, description="cuts time series into windows")
    # Every series of every split (pretext and downstream) resized to this many steps by linear interpolation
    # before it is windowed. Unequal-length sets (gestures of 29 to 361 steps) can then be learned from whole:
    # with window.length equal to it, each series is one window.
    series_length: int | None = Field(None, ge=4, description="resizes time series")
    # The windows the downstream splits (probes, objective, supervised baseline, test) are cut into, when they
    # differ from the pretext windows (data.window, or a searched window_length). With series_length N,
    # {length: N, overlap: 0} scores each series whole while the method trains on shorter windows of it, as
    # image SSL trains on crops and evaluates whole images. Default: data.window.
    evaluation_window: WindowSpec | None = Field(None, description="cuts time series into windows")


def window_lengths(data, search, fixed) -> tuple[str, list[int]]:
    """The field that sets a sweep's window length, and every length it can draw at the extremes (a searched
    ``window_length``, a fixed one, or ``data.window.length``; a choice of null is the data's length)."""
    default = data.window.length
    if "window_length" in search:
        dimension = search["window_length"]
        # An int range with a step draws from its grid, whose top can lie below ``high`` (20-85 step 20: 80).
        values = dimension.grid_values() if dimension.type == "int" and not dimension.log else dimension.extremes()
        return "search.window_length", [int(v or default) for v in values]
    if fixed.get("window_length") is not None:
        return "fixed.window_length", [int(fixed["window_length"])]
    return "data.window.length", [default]


def labelled_units(data, evaluation, search, fixed) -> tuple[np.ndarray, str]:
    """The class of every labelled downstream unit a cross-validated objective folds (training and validation;
    a carved validation split keeps the training series' classes) and what the units are: series, or with
    ``evaluation.unit: window`` the windows they are cut into (at the drawn window length that cuts the
    fewest). Reads only labels and series lengths (``cv_folds`` is checked against them before Ray starts)."""
    from selfsup.data.timeseries.prepare import load_splits
    from selfsup.data.windows import window_starts

    splits = load_splits(data.downstream)
    labelled = [splits[name] for name in ("train", "validation") if name in splits]
    labels = np.concatenate([sets.labels for sets in labelled])
    if evaluation.unit == "series":
        return labels, "series"
    if data.evaluation_window is not None:
        cuts = [(data.evaluation_window.length, data.evaluation_window.overlap)]
    else:
        cuts = [(length, data.window.overlap) for length in window_lengths(data, search, fixed)[1]]
    lengths = np.concatenate([[data.series_length or series.shape[1] for series in sets.series] for sets in labelled])
    candidates = []
    for window, overlap in cuts:
        step = max(1, round(window * (1 - overlap)))
        counts = [len(window_starts(max(int(n), window), window, step)) for n in lengths]  # short ones: padded
        candidates.append(np.repeat(labels, counts))
    return min(candidates, key=lambda y: np.bincount(y)[np.unique(y)].min()), "windows"


@DOMAINS.register("timeseries")
class TimeSeriesDomain(Domain[TimeSeriesTrialParams, TimeSeriesData]):
    name = "timeseries"
    description = "time series"
    Params = TimeSeriesTrialParams
    Data = TimeSeriesData
    batch_axes = ("batch", "channels", "time")
    sources = TIME_SERIES_SOURCES
    task = "classification"
    protocols = CLASSIFICATION_PROTOCOLS  # readouts on frozen features, and fine-tuning (opt-in)
    default_protocols = PROTOCOLS  # the frozen-feature readouts: linear, knn, mlp
    metrics = EVAL_METRICS
    report_metrics = ("acc", "f1")  # the report's columns; the first is the headline (gains)
    # Cross-validated, so small labelled sets can still rank configurations (docs/guide/objectives.md).
    default_objective = "cv/linear/f1/frac_0.1"

    def describe_data(self, data: TimeSeriesData) -> str:
        text = f"series resized to {data.series_length} steps; " if data.series_length is not None else ""
        text += f"windows {data.window.length} steps, overlap {data.window.overlap:g}; "
        if data.evaluation_window is not None:
            text += (
                f"evaluated on windows of {data.evaluation_window.length} steps, "
                f"overlap {data.evaluation_window.overlap:g}; "
            )
        return text + f"validation {data.validation_fraction:g} of train"

    def describe_evaluation(self, evaluation: EvaluationSpec) -> str:
        return f"per {evaluation.unit}"

    def check_data(self, data) -> None:
        from selfsup.data.timeseries.prepare import check_data

        check_data(data.pretext, data.downstream)

    def check_input_sizes(self, data, evaluation, objective, search, fixed, *, bundled_only: bool = False) -> None:
        """Refuse a window longer than every training series of the pretext or downstream data (longer than
        only some is fine: those are edge-padded); ``bundled_only``: aeon's bundled sets only."""
        from selfsup.data.dataset_specs import describe, same_dataset
        from selfsup.data.timeseries.prepare import check_window_fits

        field, lengths = window_lengths(data, search, fixed)
        sets = [data.downstream] + ([] if same_dataset(data.pretext, data.downstream) else [data.pretext])
        checks = [(dataset, max(lengths), field) for dataset in sets]
        if data.evaluation_window is not None:  # cuts the downstream splits only
            checks.append((data.downstream, data.evaluation_window.length, "data.evaluation_window.length"))
        for dataset, length, name in checks:
            if not bundled_only or self.sources[dataset.source].bundled:
                check_window_fits(dataset, length, name, data.series_length)
        if cross_validated(objective) and (not bundled_only or self.sources[data.downstream.source].bundled):
            labels, units = labelled_units(data, evaluation, search, fixed)
            check_cv_folds(objective, evaluation, labels, units, describe(data.downstream))

    def data_arguments(self, data, seed: int, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "pretext": data.pretext.model_dump(mode="json"),
            "downstream": data.downstream.model_dump(mode="json"),
            "window_length": params.get("window_length") or data.window.length,
            "window_overlap": data.window.overlap,
            "validation_fraction": data.validation_fraction,
            "series_length": data.series_length,
            "evaluation_window": None
            if data.evaluation_window is None
            else (data.evaluation_window.length, data.evaluation_window.overlap),
            "seed": seed,
        }

    def prepare_data(self, **arguments: Any) -> PreparedData:
        from selfsup.data.timeseries.prepare import prepare_data

        return prepare_data(**arguments)

    def build_augmenter(self, params: TimeSeriesTrialParams, seed: int) -> TimeSeriesAugmenter:
        return TimeSeriesAugmenter(params.augmentation_strengths(), seed=seed)

    def evaluation_unit(self, evaluation) -> str:
        return "series" if evaluation.unit == "series" else "windows"

    def test_units(self, data, evaluation) -> int:
        if evaluation.unit == "series" and data.test_series_labels is not None:
            return len(data.test_series_labels)
        return len(data.test.x)

    def embedding_table(self, backbone, data, evaluation, seed, device):
        from selfsup.evaluation.classification import embedding_table

        return embedding_table(backbone, data, device, evaluation.unit, seed)

    def evaluate(
        self, backbone, data, evaluation, seed, device, *, include_test: bool, prefix: str = ""
    ) -> dict[str, float]:
        from selfsup.evaluation.classification import evaluate_classification

        return evaluate_classification(
            backbone,
            data,
            evaluation,
            seed,
            device,
            evaluation.unit,
            self.metrics,
            include_test=include_test,
            prefix=prefix,
        )

    def validation_metrics(self, backbone, data, evaluation, seed, device, names: list[str]) -> dict[str, float]:
        from selfsup.evaluation.classification import classification_validation_metrics

        return classification_validation_metrics(backbone, data, evaluation, seed, device, evaluation.unit, names)
