"""Validation carve-out and label-fraction subsets: stratified, seeded, and (for fractions) nested."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from selfsup.data.series import SeriesSet


def carve_validation(train: SeriesSet, fraction: float, seed: int) -> tuple[SeriesSet, SeriesSet]:
    """Split whole series of ``train`` into (train, validation), stratified by class and seeded."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    indices = np.arange(len(train))
    labels = train.labels
    n_classes = len(np.unique(labels))
    n_val = max(n_classes, math.ceil(fraction * len(train)))
    counts = np.unique(labels, return_counts=True)[1]
    stratify = labels if counts.min() >= 2 and len(train) - n_val >= n_classes else None
    kept, held_out = train_test_split(indices, test_size=n_val, random_state=seed, stratify=stratify)
    return train.subset(np.sort(kept)), train.subset(np.sort(held_out))


def label_fraction_indices(labels: np.ndarray, fractions: Sequence[float], seed: int) -> dict[float, np.ndarray]:
    """For each fraction in (0, 1]: ceil(fraction x class count) examples of every class (at least one).

    One seeded permutation per class, subsets are its prefixes: so the subsets are nested (the 1 % subset
    is inside the 10 % subset) and a fraction's subset does not depend on which other fractions are asked.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    permutations = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    subsets = {}
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"label fraction {fraction} is outside (0, 1]")
        chosen = [perm[:max(1, math.ceil(fraction * len(perm)))] for perm in permutations.values()]
        subsets[fraction] = np.sort(np.concatenate(chosen)) if chosen else np.empty(0, np.int64)
    return subsets
