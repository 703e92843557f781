"""The one entry point the trainer uses: data set specs -> cleaned, standardised, split, windowed data."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfsup.data.cleaning import ChannelStandardizer, fill_missing_with_warning
from selfsup.data.errors import DataError
from selfsup.data.sources import _field, describe, load_splits
from selfsup.data.splits import carve_validation
from selfsup.data.windows import Windows, sliding_windows

__all__ = ["PreparedData", "Windows", "prepare_data", "dataset_channels"]


@dataclass
class PreparedData:
    train: Windows            # labelled downstream windows (validation removed)
    validation: Windows
    test: Windows
    pretext: Windows          # unlabelled windows the SSL method trains on
    n_channels: int
    n_classes: int
    class_names: list[str]
    train_series_labels: np.ndarray       # one label per series, for series-level evaluation
    validation_series_labels: np.ndarray
    test_series_labels: np.ndarray


def _same(a, b) -> bool:
    return all(_field(a, k) == _field(b, k) for k in ("source", "name", "path"))


def dataset_channels(spec) -> int:
    return load_splits(spec)["train"].n_channels


def prepare_data(pretext, downstream, window_length: int, window_overlap: float, validation_fraction: float,
                 seed: int) -> PreparedData:
    name = describe(downstream)
    splits = fill_missing_with_warning(load_splits(downstream), name)
    if "validation" not in splits:
        splits["train"], splits["validation"] = carve_validation(splits["train"], validation_fraction, seed)
    scaler = ChannelStandardizer().fit(splits["train"])  # training statistics only
    splits = {split: scaler.transform(sets) for split, sets in splits.items()}
    windows = {split: sliding_windows(sets, window_length, window_overlap, f"{name} {split}")
               for split, sets in splits.items()}

    if _same(pretext, downstream):
        pretext_windows = windows["train"]  # never validation or test windows
    else:
        pretext_name = describe(pretext)
        pretext_train = load_splits(pretext)["train"]
        if pretext_train.n_channels != splits["train"].n_channels:
            raise DataError(f"pretext data {pretext_name} has {pretext_train.n_channels} channels but downstream "
                            f"data {name} has {splits['train'].n_channels}")
        pretext_train = fill_missing_with_warning({"train": pretext_train}, pretext_name)["train"]
        pretext_train = ChannelStandardizer().fit(pretext_train).transform(pretext_train)
        pretext_windows = sliding_windows(pretext_train, window_length, window_overlap, f"{pretext_name} train")

    train = splits["train"]
    return PreparedData(
        train=windows["train"], validation=windows["validation"], test=windows["test"], pretext=pretext_windows,
        n_channels=train.n_channels, n_classes=len(train.class_names), class_names=train.class_names,
        train_series_labels=train.labels, validation_series_labels=splits["validation"].labels,
        test_series_labels=splits["test"].labels,
    )
