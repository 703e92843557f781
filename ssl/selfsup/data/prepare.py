"""The one entry point the trainer uses: data set specs -> cleaned, standardised, split, windowed data.

A spec ("DatasetSpecLike") is any object or dict with ``source``, ``name`` and ``path`` (the config's
pydantic ``DatasetSpec``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from selfsup.data.cleaning import ChannelStandardizer, fill_missing_with_warning
from selfsup.data.errors import DataError
from selfsup.data.sources import describe, load_splits, same_dataset
from selfsup.data.splits import carve_validation
from selfsup.data.windows import Windows, sliding_windows

__all__ = [
    "PreparedData",
    "Windows",
    "check_data",
    "check_window_fits",
    "dataset_channels",
    "longest_series",
    "prepare_data",
]


@dataclass
class PreparedData:
    """Everything a trial needs: labelled downstream windows, unlabelled pretext windows, and their sizes."""

    train: Windows  # labelled downstream windows (validation series removed)
    validation: Windows
    test: Windows
    pretext: Windows  # windows the SSL method trains on; y is None unless pretext == downstream
    n_channels: int
    n_classes: int
    class_names: list[str]
    # One label per series, for series-level evaluation; None where there are no series (seismic sections).
    train_series_labels: np.ndarray | None
    validation_series_labels: np.ndarray | None
    test_series_labels: np.ndarray | None
    # The per-channel statistics the downstream inputs were standardised with, prepared = (raw - mean) / std
    # (fitted on the training split); None where inputs are used as loaded (images, in [0, 1]). A registered
    # backbone applies them itself, so it takes raw inputs (trainables/sweep/registry.py).
    input_mean: np.ndarray | None = None  # (channels,) float32
    input_std: np.ndarray | None = None


def dataset_channels(spec: Any) -> int:
    """Channel count of a data set (loads only its training split), to validate a sweep before it starts."""
    return load_splits(spec, train_only=True)["train"].n_channels


def require_same_channels(pretext: Any, pretext_channels: int, downstream: Any, downstream_channels: int) -> None:
    if pretext_channels != downstream_channels:
        raise DataError(
            f"pretext data {describe(pretext)} has {pretext_channels} channels but downstream data "
            f"{describe(downstream)} has {downstream_channels}"
        )


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
