"""``Windows``: the examples every domain hands the SSL methods and the evaluation (time-series windows, images,
seismic patches and sections), and where window starts fall (``window_starts``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Windows:
    """Fixed-length windows cut from a ``SeriesSet`` (``selfsup.data.timeseries.sliding_windows``), and where
    each one came from.

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
