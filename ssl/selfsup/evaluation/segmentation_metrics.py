"""Semantic-segmentation scores from a confusion matrix: pixel accuracy, mean IoU, frequency-weighted IoU
(Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015, section 5)
and mean F1 (Dice).

Accumulate over a split by summing per-batch matrices: pixel counts add, so the sum equals the matrix of
the whole split and the scores are computed once, over every pixel (averaging per-batch scores would
weight batches, not pixels)::

    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    for images, labels in loader:
        confusion += confusion_matrix(labels, model(images).argmax(dim=1), n_classes, ignore_index=255)
    scores = segmentation_scores(confusion, class_names)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from selfsup.evaluation.metric_names import MLFLOW_KEY_PATTERN

LabelArray = np.ndarray | torch.Tensor


def _as_flat_labels(labels: LabelArray) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    return np.asarray(labels).reshape(-1)


def confusion_matrix(
    y_true: LabelArray, y_pred: LabelArray, n_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """Pixel counts ``confusion[t, p]``: pixels of true class ``t`` predicted as ``p`` (rows true, columns
    predicted), an int64 (n_classes, n_classes) array.

    ``y_true`` and ``y_pred`` are integer label arrays (numpy or torch, any shape, the same number of
    elements, e.g. (B, H, W)). Pixels whose true label is ``ignore_index`` are left out (unlabelled or
    padded pixels); every other label must lie in [0, n_classes), or ValueError.
    """
    if n_classes < 1:
        raise ValueError(f"confusion_matrix needs n_classes >= 1, got {n_classes}")
    true, pred = _as_flat_labels(y_true), _as_flat_labels(y_pred)
    if true.shape != pred.shape:
        raise ValueError(f"confusion_matrix: y_true has {true.size} labels, y_pred {pred.size}")
    if ignore_index is not None:
        labelled = true != ignore_index
        true, pred = true[labelled], pred[labelled]
    for what, labels in (("y_true", true), ("y_pred", pred)):
        # bincount would silently put an out-of-range label in a neighbouring cell (or fail on a negative).
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(
                f"confusion_matrix: {what} has labels in [{labels.min()}, {labels.max()}], outside [0, {n_classes})"
            )
    # One bincount over the pair index t * n_classes + p counts every (true, predicted) cell at once.
    pair_index = true.astype(np.int64) * n_classes + pred.astype(np.int64)
    return np.bincount(pair_index, minlength=n_classes * n_classes).reshape(n_classes, n_classes).astype(np.int64)


def segmentation_scores(confusion: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    """Scores of a (C, C) confusion matrix (rows true, columns predicted), with per class c::

        TP_c = confusion[c, c]     FP_c = column sum_c - TP_c     FN_c = row sum_c - TP_c
        IoU_c = TP_c / (TP_c + FP_c + FN_c)          F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)

    and, with ``present`` the classes in the truth or the prediction (TP_c + FP_c + FN_c > 0) and N the
    total pixel count::

        miou      = mean over present c of IoU_c
        mf1       = mean over present c of F1_c
        pixel_acc = trace(confusion) / N
        fwiou     = sum_c freq_c IoU_c,   freq_c = row sum_c / N   (the true pixels of c)
        iou_<name of c> = IoU_c, NaN for a class absent from both truth and prediction

    A class absent from both has no defined IoU and is left out of the means rather than counted as 0 or
    1. An empty matrix (no pixels) gives NaN everywhere. The keys are MLflow metric keys, so the class
    names must be too (alphanumerics, ``_ - . /`` and space).
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    n_classes = len(class_names)
    if confusion.shape != (n_classes, n_classes):
        raise ValueError(
            f"segmentation_scores: confusion has shape {confusion.shape}, "
            f"expected ({n_classes}, {n_classes}) for {n_classes} class names"
        )
    if len(set(class_names)) != n_classes:
        raise ValueError(f"segmentation_scores: class names repeat: {list(class_names)}")
    for name in class_names:
        if not MLFLOW_KEY_PATTERN.match(f"iou_{name}"):
            raise ValueError(f"segmentation_scores: class name '{name}' cannot be part of an MLflow metric key")

    true_positive = np.diag(confusion).astype(np.float64)
    true_pixels = confusion.sum(axis=1).astype(np.float64)
    predicted_pixels = confusion.sum(axis=0).astype(np.float64)
    false_positive = predicted_pixels - true_positive
    false_negative = true_pixels - true_positive
    union = true_positive + false_positive + false_negative
    present = union > 0
    total = float(confusion.sum())

    iou = np.full(n_classes, np.nan)
    f1 = np.full(n_classes, np.nan)
    iou[present] = true_positive[present] / union[present]
    f1[present] = (
        2 * true_positive[present] / (2 * true_positive[present] + false_positive[present] + false_negative[present])
    )

    if present.any():
        miou, mf1 = float(iou[present].mean()), float(f1[present].mean())
    else:
        miou = mf1 = float("nan")
    if total > 0:
        pixel_acc = float(true_positive.sum() / total)
        # A class with true pixels is present, so only defined IoUs enter the weighted sum.
        has_truth = true_pixels > 0
        fwiou = float((true_pixels[has_truth] / total * iou[has_truth]).sum())
    else:
        pixel_acc = fwiou = float("nan")

    scores = {"miou": miou, "mf1": mf1, "pixel_acc": pixel_acc, "fwiou": fwiou}
    scores.update({f"iou_{name}": float(value) for name, value in zip(class_names, iou)})
    return scores
