"""Toy time series for the method tests: sines of a few frequencies, structure worth learning."""

from __future__ import annotations

import numpy as np

from selfsup.data.timeseries.series import SeriesSet
from selfsup.data.timeseries.sliding_windows import sliding_windows
from selfsup.data.windows import Windows


def sine_windows(n: int = 96, channels: int = 3, length: int = 40, seed: int = 0) -> np.ndarray:
    """(n, channels, length) float32: a sine of one of four frequencies per window, random phase per
    channel, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    freq = rng.integers(1, 5, size=n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n, channels, 1))
    return (np.sin(2 * np.pi * freq * t / length + phase) + 0.1 * rng.standard_normal((n, channels, length))).astype(
        np.float32
    )


def sine_recording_windows(n_series: int = 16, channels: int = 3, length: int = 40, seed: int = 0) -> Windows:
    """Recordings four windows long (one frequency per recording), cut into half-overlapping windows that
    know their series (TNC draws neighbours there)."""
    rng = np.random.default_rng(seed)
    t = np.arange(4 * length)
    freq = rng.integers(1, 5, size=n_series)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n_series, channels, 1))
    series = (
        np.sin(2 * np.pi * freq * t / length + phase) + 0.1 * rng.standard_normal((n_series, channels, len(t)))
    ).astype(np.float32)
    return sliding_windows(SeriesSet(list(series), None), length, 0.5, "toy")
