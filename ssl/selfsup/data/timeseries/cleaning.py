"""Missing values (filled forward then backward) and per-channel standardisation (training statistics only)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from selfsup.data.errors import DataError
from selfsup.data.timeseries.series import SeriesSet


def _fill_series(series: np.ndarray) -> np.ndarray:
    """One (channels, length) series: NaNs forward-filled, then backward-filled, all-NaN channels -> 0."""
    return pd.DataFrame(series.T).ffill().bfill().fillna(0.0).to_numpy(np.float32).T.copy()


def fill_missing(sets: SeriesSet) -> tuple[SeriesSet, int]:
    """NaNs filled forward then backward along time, per channel (a channel that is all NaN becomes 0.0).

    Sensor dropouts are short gaps, so carrying the last reading forward keeps the signal's shape; the
    backward pass covers gaps at the start. Returns the cleaned set and how many values were filled.
    Callers should use ``fill_missing_with_warning`` so the count is always reported.
    """
    filled, count = [], 0
    for series in sets.series:
        missing = int(np.isnan(series).sum())
        if missing:
            count += missing
            series = _fill_series(series)
        filled.append(series)
    return sets.with_series(filled), count


def fill_missing_with_warning(splits: dict[str, SeriesSet], name: str) -> dict[str, SeriesSet]:
    """``fill_missing`` on every split of the data set ``name``; warns with the total count when any was filled."""
    filled, total = {}, 0
    for split, sets in splits.items():
        filled[split], count = fill_missing(sets)
        total += count
    if total:
        warnings.warn(f"{name}: filled {total} missing values forward then backward", stacklevel=2)
    return filled


class ChannelStandardizer:
    """Per-channel ``(x - mean) / std`` with mean and std over every time step of every training series.

    Fitted on training data only, then applied unchanged to validation and test, so no statistic of the
    evaluation data leaks into the model's inputs.
    """

    def __init__(self, std_floor: float = 1e-8) -> None:
        self.std_floor = std_floor
        self.mean: np.ndarray | None = None  # (channels,) float64
        self.std: np.ndarray | None = None

    def fit(self, train: SeriesSet) -> "ChannelStandardizer":
        """Compute the per-channel statistics of ``train``; returns self."""
        if len(train) == 0:
            raise DataError("cannot fit a ChannelStandardizer on an empty training set")
        values = np.concatenate([np.asarray(s, dtype=np.float64) for s in train.series], axis=1)
        self.mean = values.mean(axis=1)
        self.std = np.maximum(values.std(axis=1), self.std_floor)
        return self

    def transform(self, sets: SeriesSet) -> SeriesSet:
        """``sets`` standardised with the fitted statistics (float32); labels and groups unchanged."""
        if self.mean is None or self.std is None:
            raise RuntimeError("ChannelStandardizer.transform called before fit")
        if len(sets) and sets.n_channels != len(self.mean):
            raise DataError(f"data has {sets.n_channels} channels but the standardizer was fitted on {len(self.mean)}")
        mean, std = self.mean[:, None], self.std[:, None]
        return sets.with_series([((s - mean) / std).astype(np.float32) for s in sets.series])

    def fit_transform(self, train: SeriesSet) -> SeriesSet:
        """``fit(train)`` then ``transform(train)``."""
        return self.fit(train).transform(train)
