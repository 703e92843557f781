"""Classification evaluation of a prepared data set (time series and images alike).

The backbone embeds every labelled example; the embeddings are pooled to the evaluation unit (one row per
series for UCR/UEA-style scoring, one per window or image otherwise); the protocols of ``protocol.py`` fit
readouts at each label fraction and score validation (and test) units. The ``finetune`` protocol instead
trains a copy of the backbone with a linear head on the same labelled units (``finetune.py``) and pools its
logits the same way. The domains differ only in ``unit`` (whether windows are averaged per series) and in
the metrics they record (images add top-5 accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from selfsup.evaluation.finetune import finetune_classification
from selfsup.evaluation.health import embedding_std, rankme
from selfsup.evaluation.metric_names import FINETUNE_PROTOCOL, parse_eval_metric_name
from selfsup.evaluation.protocol import cross_validated_metric, evaluate_embeddings, objective_only, pool_by_series
from selfsup.failures import require_finite_embeddings


@torch.no_grad()
def embed(backbone: nn.Module, x: np.ndarray, device: torch.device, batch_size: int = 512) -> np.ndarray:
    """Backbone features of examples (no projector), in eval mode, as float32 numpy; ``NonFiniteEmbeddingsError``
    where training left a backbone that gives NaN or infinite ones."""
    was_training = backbone.training
    backbone.eval()
    # torch.tensor copies: x may be a read-only array (shared memory of Ray's object store).
    chunks = [
        backbone(torch.tensor(x[i : i + batch_size], device=device)).float().cpu() for i in range(0, len(x), batch_size)
    ]
    backbone.train(was_training)
    return require_finite_embeddings(torch.cat(chunks)).numpy()


@dataclass
class EmbeddedSplits:
    """Frozen-backbone features of the labelled splits, one row per evaluation unit."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    val_examples: np.ndarray  # example-level validation embeddings, for the health metrics


def embed_splits(
    backbone: nn.Module, data, device: torch.device, unit: str, include_test: bool = True
) -> EmbeddedSplits:
    """Embed ``data``'s train / validation (/ test) examples; with ``unit="series"`` average them per series
    (``pool_by_series``) and label each series, else one row per example."""

    def units(examples, series_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        features = embed(backbone, examples.x, device)
        if unit != "series":
            return features, examples.y, features
        pooled, order = pool_by_series(features, examples.series_index)
        return pooled, series_labels[order], features

    train_x, train_y, _ = units(data.train, data.train_series_labels)
    val_x, val_y, val_examples = units(data.validation, data.validation_series_labels)
    if include_test:
        test_x, test_y, _ = units(data.test, data.test_series_labels)
    else:
        test_x, test_y = np.empty((0, train_x.shape[1]), np.float32), np.empty(0, np.int64)
    return EmbeddedSplits((train_x, train_y), (val_x, val_y), (test_x, test_y), val_examples)


def health_metrics(features: np.ndarray) -> dict[str, float]:
    z = torch.as_tensor(features, dtype=torch.float64)
    return {"health/embedding_std": float(embedding_std(z)), "health/rankme": float(rankme(z))}


def _probe_options(evaluation, device) -> dict:
    return {"knn_k": evaluation.knn_k, "mlp_epochs": evaluation.mlp_epochs, "mlp_device": str(device)}


def evaluate_classification(
    backbone: nn.Module,
    data,
    evaluation,
    seed,
    device: torch.device,
    unit: str,
    metrics: Sequence[str],
    *,
    include_test: bool,
    prefix: str = "",
) -> dict[str, float]:
    """Every protocol of ``evaluation`` at every label fraction (readouts on frozen features, and
    ``finetune`` when named), plus the health metrics of the validation embeddings (not for a ``prefix``ed,
    e.g. untrained, backbone)."""
    splits = embed_splits(backbone, data, device, unit, include_test)
    frozen = [protocol for protocol in evaluation.protocols if protocol != FINETUNE_PROTOCOL]
    # evaluation.refit_on_validation: test readouts fitted on training then validation units (the order the
    # supervised baseline's labelled subsets are drawn in, selfsup.pretrain.training_windows).
    test_fit = (
        tuple(np.concatenate(parts) for parts in zip(splits.train, splits.val))
        if evaluation.refit_on_validation and include_test
        else None
    )
    scores = (
        evaluate_embeddings(
            splits.train,
            splits.val,
            splits.test,
            protocols=frozen,
            fractions=evaluation.label_fractions,
            seed=seed,
            prefix=prefix,
            include_test=include_test,
            metrics=metrics,
            test_fit=test_fit,
            **_probe_options(evaluation, device),
        )
        if frozen
        else {}
    )
    if FINETUNE_PROTOCOL in evaluation.protocols:
        scores.update(
            finetune_classification(
                backbone,
                data,
                evaluation,
                seed,
                device,
                unit,
                metrics,
                fractions=evaluation.label_fractions,
                splits=["val", "test"] if include_test else ["val"],
                prefix=prefix,
            )
        )
    if not prefix:
        scores.update(health_metrics(splits.val_examples))
    return scores


def classification_validation_metrics(
    backbone: nn.Module, data, evaluation, seed, device: torch.device, unit: str, names: list[str]
) -> dict[str, float]:
    """The health metrics plus the named ``val/...`` and ``cv/...`` metrics only: the per-epoch evaluation.

    Each named metric is computed exactly as in ``evaluate_classification`` (same subset, same probe), so a
    per-epoch objective means the same thing as the final one. A ``val/finetune/...`` name fine-tunes a copy
    of the backbone at its one fraction every time it is asked for (``evaluation.finetune_epochs`` passes over
    that fraction's labelled units): allowed, as the objective, but it costs a fine-tuning per epoch.
    ``cv/finetune/...`` is refused (folds x repeats fine-tunings; the sweep's validation refuses it first).
    """
    splits = embed_splits(backbone, data, device, unit, include_test=False)
    scores = health_metrics(splits.val_examples)
    options = _probe_options(evaluation, device)
    for name in names:
        parsed = parse_eval_metric_name(name)
        if parsed is None:
            continue
        if parsed.protocol == FINETUNE_PROTOCOL:
            if parsed.split != "val":
                raise ValueError(
                    f"'{name}': fine-tuning is scored on the validation split only (val/finetune/...);"
                    f" cross-validating it would fine-tune folds x repeats backbones"
                )
            scores.update(
                finetune_classification(
                    backbone,
                    data,
                    evaluation,
                    seed,
                    device,
                    unit,
                    [parsed.metric],
                    fractions=[parsed.fraction],
                    splits=["val"],
                )
            )
        elif parsed.split == "cv":
            labelled = tuple(np.concatenate(parts) for parts in zip(splits.train, splits.val))
            scores[name] = cross_validated_metric(
                name, labelled, seed, folds=evaluation.cv_folds, repeats=evaluation.cv_repeats, **options
            )
        else:
            scores[name] = objective_only(name, splits.train, splits.val, seed, **options)
    return scores


#: Rows per split in the stored embedding table (t-SNE of 3 x 1000 points takes seconds) and the width the
#: features are reduced to by PCA (t-SNE's customary first step; it keeps the artifact small for 2048-d
#: ResNet-50 features).
EMBEDDING_ROWS_PER_SPLIT = 1000
EMBEDDING_DIMENSIONS = 50


def embedding_table(
    backbone: nn.Module,
    data,
    device: torch.device,
    unit: str,
    seed: int,
    rows_per_split: int = EMBEDDING_ROWS_PER_SPLIT,
    dimensions: int = EMBEDDING_DIMENSIONS,
) -> pd.DataFrame:
    """The frozen embeddings of train, validation and test evaluation units (series or examples) in one table,
    for the report's t-SNE maps: columns ``split`` (train / validation / test), ``label`` (the class name),
    ``unit`` (the unit's index in its split) and ``f0`` ... ``f{k-1}``: the features projected on their first
    k = min(``dimensions``, width, rows) principal components (fitted on all rows together, seeded), or the
    features themselves when they are narrower. At most ``rows_per_split`` units per split, drawn with
    ``seed``; stored by the trial at its end so a report never needs the model again."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    parts = []
    for split, examples, series_labels in [
        ("train", data.train, data.train_series_labels),
        ("validation", data.validation, data.validation_series_labels),
        ("test", data.test, data.test_series_labels),
    ]:
        # Units are drawn first and only their examples embedded: the final evaluation has just embedded the
        # whole data set, and a second full pass (CIFAR through a ResNet-50) would double that cost.
        series = np.unique(examples.series_index) if unit == "series" else None
        count = len(examples.x) if series is None else len(series)
        chosen = np.sort(rng.choice(count, size=min(rows_per_split, count), replace=False))
        if series is not None:  # the chosen series' windows, averaged per series as embed_splits does
            assert series_labels is not None  # prepared data with series labels them
            rows = np.isin(examples.series_index, series[chosen])
            features, _ = pool_by_series(embed(backbone, examples.x[rows], device), examples.series_index[rows])
            labels = series_labels[series[chosen]]
        else:
            features, labels = embed(backbone, examples.x[chosen], device), examples.y[chosen]
        parts.append((split, chosen, features, labels))
    features = np.concatenate([part[2] for part in parts]).astype(np.float64)
    if features.shape[1] > dimensions and len(features) > dimensions:
        features = PCA(n_components=dimensions, random_state=seed).fit_transform(features)
    names = list(getattr(data, "class_names", None) or [])
    table = pd.DataFrame(features.astype(np.float32), columns=[f"f{i}" for i in range(features.shape[1])])
    table.insert(0, "unit", np.concatenate([part[1] for part in parts]))
    labels = np.concatenate([part[3] for part in parts])
    table.insert(0, "label", [names[int(y)] if int(y) < len(names) else str(int(y)) for y in labels])
    table.insert(0, "split", np.concatenate([[part[0]] * len(part[1]) for part in parts]))
    return table
