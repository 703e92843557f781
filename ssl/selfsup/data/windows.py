"""Sliding windows over series (the unit the SSL methods train on)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from selfsup.data.series import SeriesSet


@dataclass
class Windows:
    x: np.ndarray                  # (n, channels, length) float32
    y: np.ndarray | None           # (n,) int64 label of the source series, or None
    series_index: np.ndarray       # (n,) int64 index of the source series in its SeriesSet

    def __len__(self) -> int:
        return len(self.x)


def window_starts(series_length: int, length: int, step: int) -> list[int]:
    """Starts from 0 every ``step``; one more window aligned to the end so no tail is dropped."""
    starts = list(range(0, series_length - length + 1, step))
    if starts[-1] + length < series_length:
        starts.append(series_length - length)
    return starts


def sliding_windows(sets: SeriesSet, length: int, overlap: float, name: str = "data") -> Windows:
    if not 0 <= overlap < 1:
        raise ValueError(f"window overlap must be in [0, 1), got {overlap}")
    step = max(1, round(length * (1 - overlap)))
    xs, ys, owners, padded = [], [], [], 0
    for index, series in enumerate(sets.series):
        if series.shape[1] < length:
            # Short series (unequal-length sets) are edge-padded to one full window.
            series = np.pad(series, ((0, 0), (0, length - series.shape[1])), mode="edge")
            padded += 1
        for start in window_starts(series.shape[1], length, step):
            xs.append(series[:, start:start + length])
            owners.append(index)
    if padded:
        warnings.warn(f"{name}: {padded} series shorter than the window ({length} steps) were edge-padded",
                      stacklevel=2)
    owners = np.asarray(owners, dtype=np.int64)
    x = np.stack(xs).astype(np.float32) if xs else np.empty((0, sets.n_channels, length), np.float32)
    y = None if sets.labels is None else sets.labels[owners]
    return Windows(x, y, owners)
