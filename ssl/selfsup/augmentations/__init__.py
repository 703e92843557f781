"""Data augmentations for self-supervised views, one module per domain, each with an augmenter that has
``views(x, n)`` and ``reseed(seed)``:

- :mod:`selfsup.augmentations.timeseries`: each augmentation is ``fn(x, strength, generator)`` on a (batch,
  channels, length) tensor, and :class:`TimeSeriesAugmenter` combines them by name;
- :mod:`selfsup.augmentations.images`: torchvision transforms v2 recipes (SimCLR, BYOL presets);
- :mod:`selfsup.augmentations.seismic`: physical transforms only (crop, flip, amplitude scaling, noise)."""

from selfsup.augmentations.timeseries import (
    AUGMENTATIONS,
    Augmentation,
    TimeSeriesAugmenter,
    blockout,
    check_strength,
    crop_resize,
    flip,
    jitter,
    magnitude_warp,
    negate,
    scaling,
    smooth,
    strength_range,
    time_warp,
)

__all__ = [
    "AUGMENTATIONS",
    "Augmentation",
    "TimeSeriesAugmenter",
    "blockout",
    "check_strength",
    "crop_resize",
    "flip",
    "jitter",
    "magnitude_warp",
    "negate",
    "scaling",
    "smooth",
    "strength_range",
    "time_warp",
]
