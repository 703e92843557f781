"""Label-fraction subsets, the labelled data every domain's evaluation draws: stratified by class, seeded, nested."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


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
