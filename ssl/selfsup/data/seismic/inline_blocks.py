"""Train / validation / test splits of a seismic volume as contiguous inline blocks separated by gaps.

Adjacent inlines are nearly identical (25 m apart in F3), so a random split of inlines puts near-copies of
training sections into validation and test, and a validation block touching the test block makes model
selection a peek at the test set (the reference report found that a validation set next to the test set
made its model selection useless).
Here every split is one contiguous block of inlines, the blocks are laid out in a seeded order, and
``gap`` inlines between any two blocks are used by none::

    usable  = n_inline - gap x (n_splits - 1)
    size_s  = fraction_s / sum(fractions) x usable     rounded by largest remainder, so the sizes sum to usable

Crossline sections must then be restricted to a split's inlines
(:func:`selfsup.data.seismic.seismic_volume.sections` does so through its ``inlines`` argument).
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Mapping

import numpy as np

from selfsup.data.errors import DataError

DEFAULT_FRACTIONS = MappingProxyType({"train": 0.6, "validation": 0.2, "test": 0.2})


def _block_sizes(names: list[str], fractions: Mapping[str, float], usable: int) -> dict[str, int]:
    """Largest-remainder apportionment of ``usable`` inlines to the splits, proportional to their fractions."""
    total = sum(fractions.values())
    exact = {name: fractions[name] / total * usable for name in names}
    sizes = {name: math.floor(exact[name]) for name in names}
    # ties go to the split named first, so the result does not depend on float noise between equal fractions
    by_remainder = sorted(names, key=lambda name: (-(exact[name] - sizes[name]), names.index(name)))
    for name in by_remainder[: usable - sum(sizes.values())]:
        sizes[name] += 1
    return sizes


def inline_block_split(
    n_inline: int, fractions: Mapping[str, float] = DEFAULT_FRACTIONS, gap: int = 5, seed: int = 0
) -> dict[str, np.ndarray]:
    """Sorted int64 inline indices per split: one contiguous block each, ``gap`` unused inlines between blocks.

    ``fractions`` maps split name -> positive weight (normalised, so they need not sum to 1); the result keeps
    its key order. The seed only chooses the order of the blocks along the volume, so that the test block
    is not always at the same end. Raises DataError when a block would be empty.
    """
    names = list(fractions)
    if not names:
        raise ValueError("fractions must name at least one split")
    for name, fraction in fractions.items():
        if not fraction > 0:
            raise ValueError(f"split fraction for {name!r} must be > 0, got {fraction}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    usable = n_inline - gap * (len(names) - 1)
    sizes = _block_sizes(names, fractions, max(usable, 0))
    empty = [name for name in names if sizes[name] == 0]
    if empty:
        raise DataError(
            f"cannot split {n_inline} inlines into {len(names)} blocks with gaps of {gap}: "
            f"{usable} usable inlines leave split {empty[0]!r} (fraction {fractions[empty[0]]}) empty"
        )
    order = np.random.default_rng(seed).permutation(len(names))
    blocks, start = {}, 0
    for position in order:
        name = names[position]
        blocks[name] = np.arange(start, start + sizes[name], dtype=np.int64)
        start += sizes[name] + gap
    return {name: blocks[name] for name in names}


def describe_split(split: Mapping[str, np.ndarray]) -> dict[str, list]:
    """JSON-friendly {split: [first inline, last inline, count]} (for MLflow params); [None, None, 0] if empty."""
    described = {}
    for name, inlines in split.items():
        inlines = np.asarray(inlines)
        described[name] = (
            [int(inlines.min()), int(inlines.max()), int(len(inlines))] if len(inlines) else [None, None, 0]
        )
    return described
