"""scikit-learn's bundled 8x8 handwritten digits as an ``ImageSet`` source: offline, tiny, for smoke runs.

The data (1,797 images, 10 classes) ships inside scikit-learn (``sklearn.datasets.load_digits``; the UCI
"Optical Recognition of Handwritten Digits" test set, https://archive.ics.uci.edu/dataset/80), so it loads
without a download. Pixels are counts 0..16 of set bits in 4x4 blocks of the original 32x32 bitmaps;
dividing by 16 maps them onto [0, 1] exactly. The set has no official train/test split, so we fix one:
a stratified 75/25 split by ``train_test_split(test_size=0.25, random_state=0, stratify=labels)``. It is
part of the data set's definition, so it never depends on a run's seed and every run tests on the same
450 images.
"""

from __future__ import annotations

import numpy as np

from selfsup.data.images.image_sets import ImageSet, ImageSplits

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


def load_digits_images(name: str | None = None, path: str | None = None, *, train_only: bool = False) -> ImageSplits:
    """Train (1,347) and test (450) splits of the 8x8 digits: (n, 1, 8, 8) float32 in [0, 1], classes "0".."9".

    ``name`` and ``path`` are unused (the data is bundled); ``train_only`` returns just the same train split.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0)[:, None]  # (n, 8, 8) -> (n, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    train_indices, test_indices = train_test_split(
        np.arange(len(labels)), test_size=DIGITS_TEST_FRACTION, random_state=DIGITS_SPLIT_SEED, stratify=labels
    )
    # Sorted so each split keeps the bundled order; the split itself is what the seed fixes.
    parts = (
        {"train": np.sort(train_indices)}
        if train_only
        else {"train": np.sort(train_indices), "test": np.sort(test_indices)}
    )
    class_names = [str(digit) for digit in digits.target_names]
    return {
        split: ImageSet(images[indices], labels[indices], class_names, "digits") for split, indices in parts.items()
    }
