"""The evaluation protocol: frozen embeddings -> readouts at several label fractions -> named metrics.

For each label fraction a stratified, nested subset of the labelled training set is drawn
(``selfsup.data.splits.label_fraction_indices``); every protocol (linear / kNN / MLP readout) is fitted on
it and scored on validation (and test) embeddings. Results are keyed by ``metric_names``.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Mapping, Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold

from selfsup.evaluation.metric_names import EVAL_METRICS, PROTOCOLS, eval_metric_name, parse_eval_metric_name
from selfsup.evaluation.probes import PROBES

LabelledSet = tuple[np.ndarray, np.ndarray]
# (labels, fractions, seed) -> {fraction: indices of the labelled training subset}
SubsetSelector = Callable[[np.ndarray, Sequence[float], int], Mapping[float, np.ndarray]]


def pool_by_series(embeddings: np.ndarray, series_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean window embedding of each series, for series-level evaluation (one prediction per series).

        pooled[i] = mean of embeddings[n] over windows n with series_index[n] == order[i]

    Returns ``(pooled, order)`` with ``order`` the sorted distinct series indices (index labels with it).
    """
    embeddings = np.asarray(embeddings)
    order, row_of_window = np.unique(np.asarray(series_index), return_inverse=True)
    sums = np.zeros((len(order), embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, row_of_window, embeddings)
    counts = np.bincount(row_of_window, minlength=len(order))
    pooled = sums / counts[:, None]
    return pooled.astype(embeddings.dtype if np.issubdtype(embeddings.dtype, np.floating) else np.float64), order


def default_label_selector() -> SubsetSelector:
    """The labelled subsets every protocol draws (nested, stratified: ``selfsup.data.splits``)."""
    from selfsup.data.splits import label_fraction_indices  # lazy: data/ imports are heavier

    return label_fraction_indices


def subset_for_fraction(subsets: Mapping[float, np.ndarray], fraction: float) -> np.ndarray:
    """The selector's subset for ``fraction`` (keys compared as floats: 0.1 from YAML and 0.1 computed agree)."""
    for key, indices in subsets.items():
        if math.isclose(float(key), float(fraction)):
            return np.asarray(indices)
    raise KeyError(f"the label-fraction selector returned no subset for fraction {fraction}")


def _probe_options(knn_k: int, mlp_epochs: int, mlp_device: str) -> dict[str, dict]:
    return {"linear": {}, "knn": {"k": knn_k}, "mlp": {"epochs": mlp_epochs, "device": mlp_device}}


def _check_protocols(protocols: Sequence[str]) -> None:
    unknown = [p for p in protocols if p not in PROBES]
    if unknown:
        raise ValueError(f"unknown evaluation protocol(s) {unknown}; known: {', '.join(PROTOCOLS)}")


def evaluate_embeddings(
    train: LabelledSet,
    val: LabelledSet,
    test: LabelledSet,
    protocols: Sequence[str],
    fractions: Sequence[float],
    seed: int,
    prefix: str = "",
    include_test: bool = True,
    *,
    knn_k: int = 20,
    mlp_epochs: int = 200,
    mlp_device: str = "cpu",
    select_labelled: SubsetSelector | None = None,
    metrics: Sequence[str] = EVAL_METRICS,
    test_fit: LabelledSet | None = None,
) -> dict[str, float]:
    """Every protocol at every label fraction, scored on val (and test): a flat ``{metric name: value}``.

    ``train``/``val``/``test`` are ``(embeddings, labels)`` pairs, already pooled to the evaluation unit.
    Keys are ``{prefix}{split}/{protocol}/{metric}/frac_{fraction}`` for each of ``metrics`` (default
    accuracy and macro-F1; images add ``top5``); test keys only when ``include_test``.
    ``select_labelled`` picks the labelled training subset per fraction (default:
    ``selfsup.data.splits.label_fraction_indices``). ``test_fit``: the units the test readouts are fitted on
    (their subsets drawn the same way), e.g. training + validation (``evaluation.refit_on_validation``);
    default ``train``, which the val readouts are always fitted on.
    """
    _check_protocols(protocols)
    select = select_labelled or default_label_selector()
    options = _probe_options(knn_k, mlp_epochs, mlp_device)
    # (units the readouts are fitted on, the splits they score)
    if not include_test:
        readouts = [(train, {"val": val})]
    elif test_fit is None:
        readouts = [(train, {"val": val, "test": test})]
    else:
        readouts = [(train, {"val": val}), (test_fit, {"test": test})]

    results: dict[str, float] = {}
    for (fit_x, fit_y), eval_sets in readouts:
        subsets = select(fit_y, list(fractions), seed)
        for fraction in fractions:
            indices = subset_for_fraction(subsets, fraction)
            for protocol in protocols:
                scores = PROBES[protocol](fit_x[indices], fit_y[indices], eval_sets, seed, **options[protocol])
                for split, split_scores in scores.items():
                    for metric in metrics:
                        results[eval_metric_name(split, protocol, metric, fraction, prefix)] = split_scores[metric]
    return results


def objective_only(
    metric_name: str,
    train: LabelledSet,
    val: LabelledSet,
    seed: int,
    *,
    knn_k: int = 20,
    mlp_epochs: int = 200,
    mlp_device: str = "cpu",
    select_labelled: SubsetSelector | None = None,
) -> float:
    """One validation metric by name, e.g. ``val/knn/acc/frac_1.0``: one protocol, one fraction, val only.

    The cheap per-epoch version of ``evaluate_embeddings`` (same subset, same probe, same value).
    """
    parsed = parse_eval_metric_name(metric_name)
    if parsed is None or parsed.prefix or parsed.split != "val":
        raise ValueError(f"'{metric_name}' is not a validation metric of the form val/<protocol>/<metric>/frac_<f>")
    metrics = evaluate_embeddings(
        train,
        val,
        val,
        [parsed.protocol],
        [parsed.fraction],
        seed,
        include_test=False,
        knn_k=knn_k,
        mlp_epochs=mlp_epochs,
        mlp_device=mlp_device,
        select_labelled=select_labelled,
        metrics=[parsed.metric],
    )
    return metrics[parsed.name]


def cross_validated_metric(
    metric_name: str,
    labelled: LabelledSet,
    seed: int,
    *,
    folds: int = 5,
    repeats: int = 3,
    knn_k: int = 20,
    mlp_epochs: int = 200,
    mlp_device: str = "cpu",
    select_labelled: SubsetSelector | None = None,
) -> float:
    """One cross-validated metric by name, e.g. ``cv/linear/acc/frac_0.1``, over all labelled non-test units.

    ``labelled`` is every labelled unit the sweep may select on (training and validation, never test). For
    each of ``repeats`` seeded stratified ``folds``-fold partitions, and each fold: the label-fraction subset
    of the other folds is drawn (as ``evaluate_embeddings`` draws it, seeded per repeat), the probe fitted on
    it and scored on the held-out fold. The result is the mean over folds and repeats::

        cv = 1 / (R x K) x sum_r sum_k  score(probe fitted on subset_f(folds != k), fold k)

    Every unit is scored R times instead of once, so on small labelled sets the value is far less noisy
    than a single carved validation split, and configurations rarely tie. Folds are capped at the smallest
    class's count (at least 2); a sweep whose ``evaluation.cv_folds`` exceeds that cap is refused before it
    starts (``selfsup.domains.base.check_cv_folds``), so the cap never changes a sweep's folds.
    """
    parsed = parse_eval_metric_name(metric_name)
    if parsed is None or parsed.prefix or parsed.split != "cv":
        raise ValueError(f"'{metric_name}' is not a cross-validated metric of the form cv/<protocol>/<metric>/frac_<f>")
    _check_protocols([parsed.protocol])
    x, y = (np.asarray(a) for a in labelled)
    select = select_labelled or default_label_selector()
    options = _probe_options(knn_k, mlp_epochs, mlp_device)[parsed.protocol]
    n_splits = max(2, min(folds, int(np.bincount(y)[np.unique(y)].min())))
    scores = []
    for repeat in range(repeats):
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed + repeat)
        with warnings.catch_warnings():
            # A class with fewer members than folds leaves some folds without it; scores stay defined.
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            partitions = list(splitter.split(x, y))
        for fit_part, held_out in partitions:
            chosen = fit_part[
                subset_for_fraction(select(y[fit_part], [parsed.fraction], seed + repeat), parsed.fraction)
            ]
            fold_scores = PROBES[parsed.protocol](
                x[chosen], y[chosen], {"fold": (x[held_out], y[held_out])}, seed + repeat, **options
            )
            scores.append(fold_scores["fold"][parsed.metric])
    return float(np.mean(scores))
