"""The in-memory form of a labelled time-series data set before windowing: ``SeriesSet``, the shared class
mapping of its splits (``encode_labels``) and its validation carve-out (``carve_validation``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from selfsup.data.errors import DataError


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


def _validation_count(class_count: int, fraction: float) -> int:
    """Series of one class to hold out: about ``fraction`` of them, at least one, but never the class's last."""
    if class_count < 2:
        return 0
    return min(class_count - 1, max(1, math.floor(fraction * class_count + 0.5)))


def carve_validation(train: SeriesSet, fraction: float, seed: int) -> tuple[SeriesSet, SeriesSet]:
    """Split whole series of ``train`` into (train, validation), stratified by class and seeded.

    Every class with at least two series gets about ``fraction`` of them (at least one) into validation and
    keeps at least one for training; a class with a single series stays in training. Series are never cut,
    so no recording is in both parts. The same seed always gives the same split. (Groups are not used:
    the split is stratified by label only.)
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    if train.labels is None:
        order = rng.permutation(len(train))
        held_out = order[: min(len(train) - 1, max(1, math.floor(fraction * len(train) + 0.5)))]
    else:
        per_class: list[int] = []
        for label in np.unique(train.labels):
            members = rng.permutation(np.flatnonzero(train.labels == label))
            per_class.extend(members[: _validation_count(len(members), fraction)])
        held_out = np.asarray(per_class, dtype=np.int64)
    held_out = np.sort(np.asarray(held_out, dtype=np.int64))
    if len(held_out) == 0:
        raise DataError(
            f"cannot carve a validation split from {len(train)} training series (every class has a single series)"
        )
    kept = np.setdiff1d(np.arange(len(train)), held_out)
    return train.subset(kept), train.subset(held_out)
