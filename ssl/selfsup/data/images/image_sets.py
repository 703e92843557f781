"""The in-memory form of a labelled image data set: ``ImageSet``, and its stratified validation carve-out.

An image source's loader (its entry in the image domain's ``sources``, ``selfsup.domains.base.DataSource``) is
``loader(name, path, *, train_only=False, **options) -> ImageSplits`` returning ``{"train", "test"[, "validation"]}``
with ONE class mapping shared by all its splits, so class ``k`` means the same thing in every split.
Images are held as one float32 array (n, channels, height, width) in [0, 1], the layout torch's
convolutions take, so a split is one ``torch.from_numpy`` away from a batch.

``carve_image_validation`` plays the part of ``selfsup.data.timeseries.series.carve_validation`` for images. An
image is one example (there are no recordings to keep whole), so it uses scikit-learn's stratified
``train_test_split`` directly (https://scikit-learn.org/stable/modules/generated/
sklearn.model_selection.train_test_split.html).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from selfsup.data.errors import DataError


@dataclass
class ImageSet:
    """Images with optional labels. ``images[i]``: float32 (channels, height, width) with values in [0, 1].

    All images of a set share one shape (loaders convert modes and check or resize sizes). ``labels`` are
    int64 class indices into ``class_names`` or None (unlabelled); ``name`` is the data set's display name.
    """

    images: np.ndarray  # float32 (n, channels, height, width), in [0, 1]
    labels: np.ndarray | None  # int64 class index per image, or None (unlabelled)
    class_names: list[str] = field(default_factory=list)  # class index -> class name
    name: str = ""

    def __post_init__(self):
        # np.asarray copies only when the dtype differs, so loaders' float32 arrays are kept as they are.
        self.images = np.asarray(self.images, dtype=np.float32)
        if self.images.ndim != 4:
            raise DataError(
                f"image set '{self.name}' needs images of shape (n, channels, height, width), "
                f"got shape {self.images.shape}"
            )
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.size and not np.issubdtype(labels.dtype, np.integer):
                raise DataError(f"image set '{self.name}' needs integer class indices as labels, got {labels.dtype}")
            self.labels = labels.astype(np.int64, copy=False).reshape(-1)
            if len(self.labels) != len(self.images):
                raise DataError(f"image set '{self.name}' has {len(self.images)} images but {len(self.labels)} labels")
            if len(self.labels) and self.labels.min() < 0:
                raise DataError(f"image set '{self.name}' has a negative label {self.labels.min()}")
            if self.class_names and len(self.labels) and self.labels.max() >= len(self.class_names):
                raise DataError(
                    f"image set '{self.name}' has label {self.labels.max()} "
                    f"but only {len(self.class_names)} class names"
                )

    @property
    def n_channels(self) -> int:
        """Channels per image (1 for grayscale, 3 for RGB)."""
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices) -> "ImageSet":
        """The images at ``indices`` (in that order), with their labels; class names and name are kept."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        return ImageSet(
            images=self.images[indices],
            labels=None if self.labels is None else self.labels[indices],
            class_names=self.class_names,
            name=self.name,
        )


ImageSplits = dict[str, ImageSet]
"""What an image loader returns: keys "train", "test" and, when the data has one, "validation" (with
``train_only``, only "train"); every split uses the same ``class_names``."""


def carve_image_validation(train: ImageSet, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Split ``train`` into (train, validation): about ``fraction`` of the images, stratified by class, seeded.

    Classes with a single image cannot be stratified (scikit-learn refuses them), so they stay in train.
    The other classes are split by ``train_test_split(stratify=labels, random_state=seed)``; the held-out
    count is raised to one image per class when ``fraction`` would give fewer (scikit-learn needs at least
    one test image per class), and capped so every class keeps one for training, as
    ``carve_validation`` does for series. Unlabelled sets are split at random. Both parts keep the
    original image order; the same seed always gives the same split.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    from sklearn.model_selection import train_test_split

    everything = np.arange(len(train))
    if train.labels is None:
        splittable, stays, stratify, n_classes = everything, np.empty(0, np.int64), None, 1
    else:
        classes, counts = np.unique(train.labels, return_counts=True)
        multi = np.isin(train.labels, classes[counts >= 2])
        splittable, stays = everything[multi], everything[~multi]
        stratify, n_classes = train.labels[multi], int(np.sum(counts >= 2))
    if len(splittable) < 2:
        raise DataError(
            f"cannot carve a validation split from {len(train)} training images of '{train.name}' "
            "(every class has a single image)"
        )
    held_out_count = min(len(splittable) - n_classes, max(n_classes, math.floor(fraction * len(splittable) + 0.5)))
    kept, held_out = train_test_split(
        splittable, test_size=held_out_count, random_state=seed, shuffle=True, stratify=stratify
    )
    return train.subset(np.sort(np.concatenate([kept, stays]))), train.subset(np.sort(held_out))
