"""Time-series data set specs -> loaded, cleaned, split, standardised, windowed data (``prepare_data``).

A spec is any object or dict with ``source``, ``name`` and ``path`` (``selfsup.specs.DatasetSpec``, or its JSON
dict); ``load_splits`` loads it with its source's loader, the checks before a sweep (``check_data``,
``check_window_fits``) load only training splits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selfsup.data.dataset_specs import describe, same_dataset, spec_field
from selfsup.data.errors import DataError
from selfsup.data.prepared import PreparedData, require_same_channels
from selfsup.data.timeseries.cleaning import ChannelStandardizer, fill_missing_with_warning
from selfsup.data.timeseries.series import SeriesSet, carve_validation
from selfsup.data.timeseries.sliding_windows import sliding_windows
from selfsup.data.timeseries.sources import TIME_SERIES_SOURCES
from selfsup.data.windows import Windows

__all__ = [
    "check_data",
    "check_window_fits",
    "dataset_channels",
    "load_splits",
    "longest_series",
    "prepare_data",
]


def load_splits(
    source: Any, name: str | None = None, path: str | None = None, *, train_only: bool = False
) -> dict[str, SeriesSet]:
    """Load a data set: ``load_splits("aeon", "BasicMotions")`` or ``load_splits(spec)``, with the loader of its
    source in the time-series table (``sources.py``, the domain's ``sources``).

    ``source`` is a source name, or a whole spec (any object or dict with ``source``, ``name``, ``path``).
    Returns ``{"train", "test"}`` and, when the data has one, ``"validation"``; with ``train_only``, only
    ``"train"``.
    """
    spec = {"source": source, "name": name, "path": path} if isinstance(source, str) else source
    sources, source = TIME_SERIES_SOURCES, spec_field(spec, "source")
    if source not in sources:
        raise DataError(f"unknown data source '{source}'; known: {', '.join(sources)}")
    return sources[source].load(spec, train_only=train_only)


def dataset_channels(spec: Any) -> int:
    """Channel count of a data set (loads only its training split), to validate a sweep before it starts."""
    return load_splits(spec, train_only=True)["train"].n_channels


def check_data(pretext: Any, downstream: Any) -> None:
    """Load both data sets' training splits, so missing files or a channel mismatch fail before training."""
    require_same_channels(pretext, dataset_channels(pretext), downstream, dataset_channels(downstream))


def longest_series(spec: Any) -> int:
    """Steps of the longest series in a data set's training split (loads only that split)."""
    return max((series.shape[1] for series in load_splits(spec, train_only=True)["train"].series), default=0)


def check_window_fits(spec: Any, window_length: int, field: str, series_length: int | None = None) -> None:
    """``DataError`` when windows of ``window_length`` steps are longer than every training series of the data
    set: windowing would only edge-pad each whole series (``sliding_windows``), so the sweep would search
    over padding. A window longer than some series but not all is fine: only those are padded (with a warning
    when the data is prepared), as unequal-length sets need. With ``series_length`` (``data.series_length``)
    every series has that many steps."""
    if series_length is not None:
        if window_length > series_length:
            raise DataError(
                f"{field}: a window of {window_length} steps is longer than the series, which "
                f"data.series_length resizes to {series_length} steps; expected at most {series_length}"
            )
        return
    longest = longest_series(spec)
    if window_length > longest:
        raise DataError(
            f"{field}: a window of {window_length} steps is longer than every series of "
            f"{describe(spec)} (its longest training series has {longest} steps), so each window would "
            f"be one whole series edge-padded to {window_length} steps; expected at most {longest}"
        )


def _pretext_windows(
    pretext: Any, n_channels: int, downstream: Any, window_length: int, window_overlap: float, series_length: int | None
) -> Windows:
    """Unlabelled windows from the training split of another data set, standardised with its own statistics."""
    name = describe(pretext)
    train = load_splits(pretext, train_only=True)["train"].unlabelled()
    require_same_channels(pretext, train.n_channels, downstream, n_channels)
    train = fill_missing_with_warning({"train": train}, name)["train"]
    if series_length is not None:
        train = train.resized(series_length)
    train = ChannelStandardizer().fit_transform(train)
    return sliding_windows(train, window_length, window_overlap, f"{name} train")


def prepare_data(
    pretext: Any,
    downstream: Any,
    window_length: int,
    window_overlap: float,
    validation_fraction: float,
    seed: int,
    series_length: int | None = None,
    evaluation_window: tuple[int, float] | None = None,
) -> PreparedData:
    """Load, clean, split, standardise and window the downstream data, and build the pretext windows.

    Downstream: its own validation split if it has one, else one carved from train (stratified, seeded);
    missing values filled (with a warning); a ChannelStandardizer fitted on train only and applied to all
    three splits. Pretext: the downstream TRAIN windows when both specs name the same data (validation and
    test never reach the SSL method); otherwise the pretext set's training split, standardised on itself.
    With ``series_length`` every series of both is first resized to that many steps (``SeriesSet.resized``).
    ``evaluation_window`` (length, overlap): the downstream splits' windows, when they differ from the pretext
    windows (``window_length``, ``window_overlap``).
    """
    name = describe(downstream)
    splits = fill_missing_with_warning(load_splits(downstream), name)
    if "validation" not in splits:
        splits["train"], splits["validation"] = carve_validation(splits["train"], validation_fraction, seed)
    if series_length is not None:
        splits = {split: sets.resized(series_length) for split, sets in splits.items()}
    scaler = ChannelStandardizer().fit(splits["train"])  # training statistics only
    assert scaler.mean is not None and scaler.std is not None  # set by fit
    splits = {split: scaler.transform(sets) for split, sets in splits.items()}
    evaluation_length, evaluation_overlap = evaluation_window or (window_length, window_overlap)
    windows = {
        split: sliding_windows(sets, evaluation_length, evaluation_overlap, f"{name} {split}")
        for split, sets in splits.items()
    }

    train = splits["train"]
    if same_dataset(pretext, downstream):  # never validation or test windows
        pretext_windows = (
            windows["train"]
            if evaluation_window is None
            else sliding_windows(train, window_length, window_overlap, f"{name} train")
        )
    else:
        pretext_windows = _pretext_windows(
            pretext, train.n_channels, downstream, window_length, window_overlap, series_length
        )

    return PreparedData(
        train=windows["train"],
        validation=windows["validation"],
        test=windows["test"],
        pretext=pretext_windows,
        n_channels=train.n_channels,
        n_classes=len(train.class_names),
        class_names=list(train.class_names),
        train_series_labels=train.labels,
        validation_series_labels=splits["validation"].labels,
        test_series_labels=splits["test"].labels,
        input_mean=scaler.mean.astype(np.float32),
        input_std=scaler.std.astype(np.float32),
    )
