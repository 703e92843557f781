"""Segmentation metrics: the confusion matrix against a double loop, the scores against a hand-computed
example, absent classes, accumulation over batches, ignore_index, and empty input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selfsup.evaluation.segmentation_metrics import confusion_matrix, segmentation_scores


def naive_confusion(y_true, y_pred, n_classes, ignore_index=None):
    counts = [[0] * n_classes for _ in range(n_classes)]
    for t, p in zip(np.ravel(y_true).tolist(), np.ravel(y_pred).tolist()):
        if t == ignore_index:
            continue
        counts[t][p] += 1
    return np.array(counts, dtype=np.int64)


@pytest.mark.parametrize("seed", range(5))
def test_confusion_matrix_matches_a_double_loop(seed):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(1, 7))
    y_true = rng.integers(0, n_classes, size=(3, 9, 11))
    y_pred = rng.integers(0, n_classes, size=(3, 9, 11))
    confusion = confusion_matrix(y_true, y_pred, n_classes)
    assert confusion.dtype == np.int64 and confusion.shape == (n_classes, n_classes)
    np.testing.assert_array_equal(confusion, naive_confusion(y_true, y_pred, n_classes))
    # torch tensors give the same matrix
    np.testing.assert_array_equal(
        confusion_matrix(torch.from_numpy(y_true), torch.from_numpy(y_pred), n_classes), confusion
    )


def test_rows_are_truth_and_columns_prediction():
    confusion = confusion_matrix(np.array([0, 0, 1]), np.array([1, 1, 1]), n_classes=2)
    np.testing.assert_array_equal(confusion, [[0, 2], [0, 1]])


def test_sum_of_batch_matrices_equals_the_whole_split():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, size=(10, 6, 6))
    y_pred = rng.integers(0, 4, size=(10, 6, 6))
    accumulated = np.zeros((4, 4), dtype=np.int64)
    for start in range(0, 10, 3):  # batches of 3, 3, 3, 1
        accumulated += confusion_matrix(y_true[start : start + 3], y_pred[start : start + 3], 4)
    np.testing.assert_array_equal(accumulated, confusion_matrix(y_true, y_pred, 4))


def test_ignore_index_drops_those_pixels():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 3, size=(4, 8, 8))
    y_true[:, :2] = 255  # unlabelled rows
    y_pred = rng.integers(0, 3, size=(4, 8, 8))
    confusion = confusion_matrix(y_true, y_pred, 3, ignore_index=255)
    assert confusion.sum() == 4 * 6 * 8
    np.testing.assert_array_equal(confusion, naive_confusion(y_true, y_pred, 3, ignore_index=255))
    with pytest.raises(ValueError, match="y_true has labels in"):
        confusion_matrix(y_true, y_pred, 3)  # 255 without ignore_index is out of range


def test_out_of_range_and_mismatched_labels_are_errors():
    with pytest.raises(ValueError, match="y_pred has labels in"):
        confusion_matrix(np.array([0, 1]), np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="y_pred has labels in"):
        confusion_matrix(np.array([0, 1]), np.array([0, -1]), 2)
    with pytest.raises(ValueError, match="y_true has 2 labels, y_pred 3"):
        confusion_matrix(np.array([0, 1]), np.array([0, 1, 1]), 2)


def test_scores_of_a_hand_computed_example():
    # rows true, columns predicted; class "d" is absent from both truth and prediction
    confusion = np.array(
        [
            [5, 1, 0, 0],  # a: 6 true pixels
            [2, 3, 1, 0],  # b: 6 true pixels
            [0, 0, 4, 0],  # c: 4 true pixels
            [0, 0, 0, 0],  # d: none
        ]
    )
    # a: TP 5, FP 2 (column 7 - 5), FN 1 -> IoU 5/8,  F1 10/13
    # b: TP 3, FP 1 (column 4 - 3), FN 3 -> IoU 3/7,  F1 6/10
    # c: TP 4, FP 1 (column 5 - 4), FN 0 -> IoU 4/5,  F1 8/9
    # N = 16, trace = 12
    iou_a, iou_b, iou_c = 5 / 8, 3 / 7, 4 / 5
    expected_miou = (iou_a + iou_b + iou_c) / 3
    expected_mf1 = (10 / 13 + 6 / 10 + 8 / 9) / 3
    expected_pixel_acc = 12 / 16
    expected_fwiou = 6 / 16 * iou_a + 6 / 16 * iou_b + 4 / 16 * iou_c

    scores = segmentation_scores(confusion, ["a", "b", "c", "d"])
    assert scores["miou"] == pytest.approx(expected_miou, abs=1e-12)
    assert scores["mf1"] == pytest.approx(expected_mf1, abs=1e-12)
    assert scores["pixel_acc"] == pytest.approx(expected_pixel_acc, abs=1e-12)
    assert scores["fwiou"] == pytest.approx(expected_fwiou, abs=1e-12)
    assert [scores["iou_a"], scores["iou_b"], scores["iou_c"]] == pytest.approx([iou_a, iou_b, iou_c], abs=1e-12)
    assert math.isnan(scores["iou_d"])
    assert set(scores) == {"miou", "mf1", "pixel_acc", "fwiou", "iou_a", "iou_b", "iou_c", "iou_d"}
    assert all(type(value) is float for value in scores.values())


def test_class_only_predicted_counts_with_iou_zero():
    # class 1 never occurs in truth but is predicted once: present, IoU 0, weight 0 in fwIoU
    confusion = confusion_matrix(np.array([0, 0, 0, 0]), np.array([0, 0, 0, 1]), 2)
    scores = segmentation_scores(confusion, ["rock", "salt"])
    assert scores["iou_salt"] == 0.0
    assert scores["iou_rock"] == pytest.approx(3 / 4)
    assert scores["miou"] == pytest.approx((3 / 4 + 0) / 2)
    assert scores["mf1"] == pytest.approx((6 / 7 + 0) / 2)
    assert scores["fwiou"] == pytest.approx(3 / 4)


def test_perfect_prediction_scores_one():
    labels = np.array([[0, 1], [2, 2]])
    scores = segmentation_scores(confusion_matrix(labels, labels, 3), ["x", "y", "z"])
    assert all(value == 1.0 for value in scores.values())


def test_empty_confusion_gives_nans():
    scores = segmentation_scores(np.zeros((3, 3), dtype=np.int64), ["x", "y", "z"])
    assert all(math.isnan(value) for value in scores.values())
    assert confusion_matrix(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 3).sum() == 0


def test_class_names_must_fit_the_matrix_and_mlflow_keys():
    with pytest.raises(ValueError, match="expected \\(2, 2\\)"):
        segmentation_scores(np.eye(3, dtype=np.int64), ["x", "y"])
    with pytest.raises(ValueError, match="repeat"):
        segmentation_scores(np.eye(2, dtype=np.int64), ["x", "x"])
    with pytest.raises(ValueError, match="MLflow"):
        segmentation_scores(np.eye(2, dtype=np.int64), ["x", "salt (dome)"])
    # the F3 Netherlands seismic facies names are valid keys
    names = ["Upper N.S.", "Middle N.S.", "Lower N.S.", "Rijnland/Chalk", "Scruff", "Zechstein"]
    assert "iou_Rijnland/Chalk" in segmentation_scores(np.eye(6, dtype=np.int64), names)
