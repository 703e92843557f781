"""Validation carve-out and label-fraction subsets: stratified by class, seeded, and (fractions) nested."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from selfsup.data.errors import DataError
from selfsup.data.series import SeriesSet


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


def label_fraction_indices(labels: np.ndarray, fractions: Sequence[float], seed: int) -> dict[float, np.ndarray]:
    """For each fraction in (0, 1]: sorted indices of ceil(fraction x class count) examples of every class.

    Every class keeps at least one example, so a probe trained on 1 % of the labels still sees all classes.
    One seeded permutation per class and the subsets are its prefixes, so the subsets are NESTED (the 1 %
    subset lies inside the 10 % subset) and a fraction's subset does not depend on which other fractions
    are asked for. Fraction 1.0 gives every index.
    """
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"label fraction {fraction} is outside (0, 1]")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    permutations = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    subsets = {}
    for fraction in fractions:
        # the 1e-9 keeps float noise (0.3 * 10 = 3.0000000000000004) from adding an example
        chosen = [perm[: max(1, math.ceil(fraction * len(perm) - 1e-9))] for perm in permutations]
        subsets[fraction] = np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.empty(0, np.int64)
    return subsets
