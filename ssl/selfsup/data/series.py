"""The in-memory form of a labelled time-series data set before windowing: ``SeriesSet``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SeriesSet:
    """A list of multichannel series with optional labels. ``series[i]``: float32 array (channels, length_i).

    Series may differ in length (unequal-length UCR/UEA sets, CSV recordings of different durations) but
    must share the channel count.
    """

    series: list[np.ndarray]
    labels: np.ndarray | None  # int64 class index per series, or None (unlabelled)
    class_names: list[str] = field(default_factory=list)  # class index -> original label string
    groups: np.ndarray | None = None  # subject/session id per series (int64), if known

    @property
    def n_channels(self) -> int:
        """Channels per series (0 for an empty set)."""
        return int(self.series[0].shape[0]) if self.series else 0

    def __len__(self) -> int:
        return len(self.series)

    def subset(self, indices) -> "SeriesSet":
        """The series at ``indices`` (in that order), with their labels and groups; class names are kept."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        return SeriesSet(
            series=[self.series[i] for i in indices],
            labels=None if self.labels is None else self.labels[indices],
            class_names=self.class_names,
            groups=None if self.groups is None else self.groups[indices],
        )

    def with_series(self, series: list[np.ndarray]) -> "SeriesSet":
        """The same labels and groups over new series values (after cleaning or scaling)."""
        return SeriesSet(series, self.labels, self.class_names, self.groups)

    def resized(self, length: int) -> "SeriesSet":
        """Every series resized to ``length`` steps by linear interpolation over its whole duration (first and
        last values kept), channel by channel: aeon's ``Resizer``, the usual way to make an unequal-length
        UCR/UEA set equal-length."""
        if not self.series:
            return self
        from aeon.transformations.collection.unequal_length import Resizer

        resized = Resizer(resized_length=length).fit_transform([s.astype(np.float64) for s in self.series])
        return self.with_series([np.ascontiguousarray(s, dtype=np.float32) for s in resized])

    def unlabelled(self) -> "SeriesSet":
        """The same series without labels (pretext data: the SSL method never sees its labels)."""
        return SeriesSet(self.series, None, [], self.groups)


def _sort_key(label: str):
    """Numbers in numeric order ("2" before "10"), then everything else alphabetically."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def encode_labels(*label_arrays) -> tuple[list[np.ndarray], list[str]]:
    """Map label strings to 0..C-1 with ONE mapping shared by all the given splits.

    Classes are the sorted unique label strings over all splits (numeric labels in numeric order), so the
    same class has the same index in train, validation and test. Returns (one int64 array per split,
    class names).
    """
    class_names = sorted({str(label) for labels in label_arrays for label in labels}, key=_sort_key)
    index = {name: i for i, name in enumerate(class_names)}
    encoded = [np.array([index[str(label)] for label in labels], dtype=np.int64) for labels in label_arrays]
    return encoded, class_names
