"""Missing values and per-channel standardisation (statistics from training data only)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from selfsup.data.series import SeriesSet


def fill_missing(sets: SeriesSet) -> tuple[SeriesSet, int]:
    """NaNs filled forward then backward along time, per channel (an all-NaN channel becomes 0).

    The reference reports fill sensor dropouts this way; returns the set and how many values were filled.
    """
    filled, count = [], 0
    for series in sets.series:
        missing = int(np.isnan(series).sum())
        if missing:
            count += missing
            series = pd.DataFrame(series.T).ffill().bfill().fillna(0.0).to_numpy(np.float32).T.copy()
        filled.append(series)
    return sets.with_series(filled), count


def fill_missing_with_warning(splits: dict[str, SeriesSet], name: str) -> dict[str, SeriesSet]:
    """``fill_missing`` on every split of a data set, with one warning giving the total count."""
    filled, total = {}, 0
    for split, sets in splits.items():
        filled[split], count = fill_missing(sets)
        total += count
    if total:
        warnings.warn(f"{name}: filled {total} missing values forward then backward", stacklevel=2)
    return filled


class ChannelStandardizer:
    """Per-channel (x - mean) / std, with mean and std over every time step of the training series."""

    def __init__(self, std_floor: float = 1e-8) -> None:
        self.std_floor = std_floor
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, train: SeriesSet) -> "ChannelStandardizer":
        values = np.concatenate([s.astype(np.float64) for s in train.series], axis=1)
        self.mean = values.mean(axis=1)
        self.std = np.maximum(values.std(axis=1), self.std_floor)
        return self

    def transform(self, sets: SeriesSet) -> SeriesSet:
        if self.mean is None:
            raise RuntimeError("ChannelStandardizer.transform before fit")
        mean, std = self.mean[:, None], self.std[:, None]
        return sets.with_series([((s - mean) / std).astype(np.float32) for s in sets.series])
