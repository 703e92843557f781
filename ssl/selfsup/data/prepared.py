"""What every domain's ``prepare_data`` returns: ``PreparedData``, the downstream splits and the pretext
examples as ``Windows``; and the channel check of two data sets that time series and images make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from selfsup.data.dataset_specs import describe
from selfsup.data.errors import DataError
from selfsup.data.windows import Windows

__all__ = ["PreparedData", "require_same_channels"]


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


def require_same_channels(pretext: Any, pretext_channels: int, downstream: Any, downstream_channels: int) -> None:
    if pretext_channels != downstream_channels:
        raise DataError(
            f"pretext data {describe(pretext)} has {pretext_channels} channels but downstream data "
            f"{describe(downstream)} has {downstream_channels}"
        )
