"""Sliding windows over series: the fixed-length unit the SSL methods and the evaluation probes consume."""

from __future__ import annotations

import warnings

import numpy as np

from selfsup.data.timeseries.series import SeriesSet
from selfsup.data.windows import Windows, window_starts


def sliding_windows(sets: SeriesSet, length: int, overlap: float, name: str = "data") -> Windows:
    """Cut every series of ``sets`` into windows of ``length`` steps overlapping by ``overlap`` (in [0, 1)).

    step = max(1, round(length x (1 - overlap))). A series shorter than ``length`` is edge-padded (its last
    value repeated) to one full window, with one warning counting such series in the data set ``name``.
    Windows keep their series' label and index, so series-level evaluation can pool them again.
    """
    if length < 1:
        raise ValueError(f"window length must be at least 1, got {length}")
    if not 0 <= overlap < 1:
        raise ValueError(f"window overlap must be in [0, 1), got {overlap}")
    step = max(1, round(length * (1 - overlap)))
    xs, owners, starts, padded = [], [], [], 0
    for index, series in enumerate(sets.series):
        if series.shape[1] < length:
            series = np.pad(series, ((0, 0), (0, length - series.shape[1])), mode="edge")
            padded += 1
        for start in window_starts(series.shape[1], length, step):
            xs.append(series[:, start : start + length])
            owners.append(index)
            starts.append(start)
    if padded:
        warnings.warn(
            f"{name}: {padded} series shorter than the window ({length} steps) were edge-padded", stacklevel=2
        )
    series_index = np.asarray(owners, dtype=np.int64)
    x = np.stack(xs).astype(np.float32, copy=False) if xs else np.empty((0, sets.n_channels, length), np.float32)
    y = None if sets.labels is None else np.asarray(sets.labels, dtype=np.int64)[series_index]
    return Windows(x, y, series_index, np.asarray(starts, dtype=np.int64), list(sets.series), name)
