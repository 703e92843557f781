"""Data augmentations for self-supervised views. Time-series augmentations live in
:mod:`selfsup.augmentations.timeseries`; each is ``fn(x, strength, generator)`` on a (batch, channels,
length) tensor, and :class:`TimeSeriesAugmenter` combines them by name."""
from selfsup.augmentations.timeseries import (AUGMENTATIONS, Augmentation, TimeSeriesAugmenter, blockout,
                                              check_strength, crop_resize, flip, jitter, magnitude_warp,
                                              negate, scaling, smooth, strength_range, time_warp)

__all__ = [
    "AUGMENTATIONS", "Augmentation", "TimeSeriesAugmenter", "blockout", "check_strength", "crop_resize",
    "flip", "jitter", "magnitude_warp", "negate", "scaling", "smooth", "strength_range", "time_warp",
]
