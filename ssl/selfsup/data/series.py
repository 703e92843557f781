"""The in-memory form of a time-series data set before windowing."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SeriesSet:
    """A list of multichannel series with optional labels. ``series[i]``: float32 (channels, length_i)."""

    series: list[np.ndarray]
    labels: np.ndarray | None          # int64 class index per series, or None (unlabelled)
    class_names: list[str] = field(default_factory=list)  # class index -> original label
    groups: np.ndarray | None = None   # subject/session id per series, when the source has one

    @property
    def n_channels(self) -> int:
        return int(self.series[0].shape[0]) if self.series else 0

    def __len__(self) -> int:
        return len(self.series)

    def subset(self, indices) -> "SeriesSet":
        indices = np.asarray(indices, dtype=np.int64)
        return SeriesSet(
            series=[self.series[i] for i in indices],
            labels=None if self.labels is None else self.labels[indices],
            class_names=self.class_names,
            groups=None if self.groups is None else self.groups[indices],
        )

    def with_series(self, series: list[np.ndarray]) -> "SeriesSet":
        return SeriesSet(series, self.labels, self.class_names, self.groups)


def encode_labels(*label_arrays: np.ndarray) -> tuple[list[np.ndarray], list[str]]:
    """Map label strings to 0..C-1 with one mapping shared by all splits (sorted unique labels)."""
    class_names = sorted({str(label) for labels in label_arrays for label in labels})
    index = {name: i for i, name in enumerate(class_names)}
    return [np.array([index[str(label)] for label in labels], dtype=np.int64) for labels in label_arrays], class_names
