"""Sliding windows over series: the fixed-length unit the SSL methods and the evaluation probes consume."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from selfsup.data.series import SeriesSet


@dataclass
class Windows:
    """Fixed-length windows cut from a ``SeriesSet``, and where each one came from.

    ``series`` and ``starts`` let a method draw more windows around one it was given (TNC's neighbours);
    everything else only reads ``x``. The image and seismic domains use the same container for their
    examples: ``x`` (n, channels, height, width), every image or patch its own unit (``series_index`` = its
    index), and for seismic ``y`` the (n, height, width) facies maps.
    """

    x: np.ndarray  # (n, channels, length) float32
    y: np.ndarray | None  # (n,) int64 label of the source series, or None (unlabelled)
    series_index: np.ndarray  # (n,) int64 index of the source series in its SeriesSet
    starts: np.ndarray | None = None  # (n,) int64 first step of each window in its series
    series: list[np.ndarray] | None = None  # the source series (channels, length_i), as cleaned and scaled
    name: str = "data"  # e.g. "BasicMotions train", for messages

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, keep) -> "Windows":
        """The windows selected by ``keep`` (indices or a boolean mask); the source series are shared."""
        keep = np.asarray(keep)
        return Windows(
            self.x[keep],
            None if self.y is None else self.y[keep],
            self.series_index[keep],
            None if self.starts is None else self.starts[keep],
            self.series,
            self.name,
        )


def concatenated(first: Windows, second: Windows, name: str) -> Windows:
    """The windows of ``first`` then ``second`` (two splits of one data set) as one set; ``second``'s series
    are numbered after ``first``'s, so series indices stay distinct and ordered: first's, then second's."""
    offset = len(first.series) if first.series is not None else len(first)
    labels = None if first.y is None or second.y is None else np.concatenate([first.y, second.y])
    starts = None if first.starts is None or second.starts is None else np.concatenate([first.starts, second.starts])
    series = None if first.series is None or second.series is None else list(first.series) + list(second.series)
    return Windows(
        np.concatenate([first.x, second.x]),
        labels,
        np.concatenate([first.series_index, second.series_index + offset]),
        starts,
        series,
        name,
    )


def window_starts(series_length: int, length: int, step: int) -> list[int]:
    """Window starts from 0 every ``step``, plus one window aligned to the end if the tail would be dropped.

    So every time step lies in some window: length 10, window 4, step 2 -> [0, 2, 4, 6]; length 11 -> [0, 2,
    4, 6, 7]. Needs ``series_length >= length``.
    """
    starts = list(range(0, series_length - length + 1, step))
    if starts[-1] + length < series_length:
        starts.append(series_length - length)
    return starts


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
