"""Fine-tuning evaluation of a classification backbone (images and time series): the ``finetune`` protocol.

For each label fraction f of the sweep, a deep copy of the backbone (the pretrained one, or the untrained one
under ``random_init/``, which makes it the supervised baseline with the same labels) plus a linear head
``nn.Linear(backbone.output_dim, n_classes)`` is trained end to end with cross-entropy, and scored on the
validation (and test) units. The caller's backbone is never changed.

Labelled subset: the units the frozen probes fit on at f (``fraction_subsets``), drawn by the same selector
(``selfsup.data.splits.label_fraction_indices``) over the same unit labels with the sweep's seed, so the
protocols compare like with like. A unit is an image, a window (``evaluation.unit: window``) or a series
(``unit: series``): every window of a chosen series then trains, labelled with its series' label.

Training: ``evaluation.finetune_epochs`` passes (default 20) of AdamW (decoupled weight decay
``finetune_weight_decay``, default 0, i.e. plain Adam) with learning rate ``finetune_lr`` (default 1e-3)
for the head and ``finetune_backbone_lr`` (default: the same) for the backbone, over seeded shuffled
mini-batches of at most ``finetune_batch_size`` (default 64) examples, balanced so that no batch has the
single example BatchNorm cannot train on (a one-example subset is duplicated). These follow ``seg_finetune``
(Adam, 1e-3, one learning rate): SimCLR's semi-supervised fine-tuning (Chen et al. 2020, appendix B.5:
every weight at one learning rate, 1 % / 10 % of the labels) scaled down to a CPU-sized budget, with Adam
in place of LARS. One learning rate for both parts also keeps the ``random_init/`` baseline a fair
supervised model; a lower ``finetune_backbone_lr`` protects pretrained features on very few labels.
BatchNorm runs in training mode while training and in eval mode for inference. Training is seeded with the
sweep's seed at every fraction and leaves the caller's random state untouched: the same seed gives the
same metrics on CPU (CUDA kernels may differ in the last bits), and a per-epoch ``val/finetune/...``
objective equals the same metric in the final evaluation.

Limitation: no augmentation while fine-tuning (the examples are shown as they are; an image is its full
prepared resolution, not the trial's ``input_size`` crop).

Scoring: accuracy, macro-F1 and top-5 accuracy from the logits (``probes.classification_scores``), per
example, or per series for ``unit: series``: the logits of a series' windows are averaged. The head is
linear, so the mean logit is the head applied to the mean window embedding: exactly the frozen probes'
pooling (``protocol.pool_by_series`` of the window embeddings), which averaging probabilities (a
non-linear vote) would not be.

Cost: one backbone training per label fraction (and per ``random_init/`` backbone), far more than a probe
on frozen features, so ``finetune`` is opt-in (in no domain's default protocols).
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from selfsup.backbones.base import VectorBackbone
from selfsup.evaluation.metric_names import FINETUNE_PROTOCOL, eval_metric_name
from selfsup.evaluation.probes import classification_scores
from selfsup.evaluation.protocol import default_label_selector, pool_by_series, subset_for_fraction

EVAL_BATCH = 512


class FineTunedClassifier(nn.Module):
    """A backbone with a linear classification head on its feature vector."""

    def __init__(self, backbone: nn.Module, n_classes: int) -> None:
        super().__init__()
        if not isinstance(backbone, VectorBackbone):
            raise AttributeError(f"backbone {type(backbone).__name__} has no output_dim")
        self.backbone = backbone
        self.head = nn.Linear(backbone.output_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def evaluation_units(examples, series_labels: np.ndarray | None, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """``(labels of the evaluation units, unit row of each example)``: per series for ``unit="series"``,
    in ``pool_by_series``'s order (sorted series indices, as ``classification.embed_splits`` labels them),
    else one unit per example."""
    if unit == "series":
        order, row_of_example = np.unique(np.asarray(examples.series_index), return_inverse=True)
        return np.asarray(series_labels)[order], row_of_example
    return np.asarray(examples.y), np.arange(len(examples))


def fraction_subsets(
    train, series_labels: np.ndarray | None, unit: str, fractions: Sequence[float], seed: int
) -> dict[float, np.ndarray]:
    """Sorted indices of the training examples (images or windows) that fine-tune at each label fraction:
    every example of the units the frozen probes fit on at that fraction (``evaluate_embeddings``'s subset
    of the unit labels, same selector and seed)."""
    labels, row_of_example = evaluation_units(train, series_labels, unit)
    subsets = default_label_selector()(labels, list(fractions), seed)
    return {
        fraction: np.flatnonzero(np.isin(row_of_example, subset_for_fraction(subsets, fraction)))
        for fraction in fractions
    }


def finetune_model(
    backbone: nn.Module, x: np.ndarray, y: np.ndarray, n_classes: int, options, seed: int, device
) -> FineTunedClassifier:
    """A deep copy of ``backbone`` with a linear head, trained end to end on ``(x, y)`` as the module docstring
    says (``options``: the sweep's ``EvaluationSpec``); returned in eval mode."""
    x_all = torch.tensor(x)  # copies: x may be a read-only array (Ray's object store)
    y_all = torch.as_tensor(np.asarray(y, dtype=np.int64))
    if len(x_all) == 1:  # BatchNorm cannot train on a batch of one
        x_all, y_all = x_all.repeat(2, *([1] * (x_all.dim() - 1))), y_all.repeat(2)
    n_batches = -(-len(x_all) // options.finetune_batch_size)
    backbone_lr = options.finetune_backbone_lr or options.finetune_lr
    # Only the CPU generator is forked and seeded: the head's initialisation and the shuffling draw from it.
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        copied = copy.deepcopy(backbone).requires_grad_(True)
        model = FineTunedClassifier(copied, n_classes).to(device)
        optimizer = torch.optim.AdamW(
            [
                {"params": model.backbone.parameters(), "lr": backbone_lr},
                {"params": model.head.parameters(), "lr": options.finetune_lr},
            ],
            weight_decay=options.finetune_weight_decay,
        )
        model.train()
        for _ in range(options.finetune_epochs):
            for batch in torch.tensor_split(torch.randperm(len(x_all)), n_batches):
                loss = F.cross_entropy(model(x_all[batch].to(device)), y_all[batch].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return model.eval()


@torch.no_grad()
def unit_logits(
    model: nn.Module, examples, series_labels: np.ndarray | None, unit: str, device
) -> tuple[np.ndarray, np.ndarray]:
    """``(logits, labels)`` of the evaluation units: per example, or per series (mean of its windows' logits)."""
    x = examples.x
    logits = (
        np.concatenate(
            [
                model(torch.tensor(x[i : i + EVAL_BATCH], device=device)).float().cpu().numpy()
                for i in range(0, len(x), EVAL_BATCH)
            ]
        )
        if len(x)
        else np.empty((0, 0), np.float32)
    )
    if unit != "series":
        return logits, np.asarray(examples.y)
    if not len(x):
        return logits, np.empty(0, np.int64)
    pooled, order = pool_by_series(logits, examples.series_index)
    return pooled, np.asarray(series_labels)[order]


def finetune_classification(
    backbone: nn.Module,
    data,
    evaluation,
    seed,
    device,
    unit: str,
    metrics: Sequence[str],
    *,
    fractions: Sequence[float],
    splits: Sequence[str],
    prefix: str = "",
) -> dict[str, float]:
    """``{prefix}{split}/finetune/{metric}/frac_{f}`` for every fraction f and split ("val" and/or "test")."""
    evaluation_sets = {
        "val": (data.validation, data.validation_series_labels),
        "test": (data.test, data.test_series_labels),
    }
    subsets = fraction_subsets(data.train, data.train_series_labels, unit, fractions, seed)
    results: dict[str, float] = {}
    for fraction in fractions:
        chosen = subsets[fraction]
        model = finetune_model(
            backbone, data.train.x[chosen], data.train.y[chosen], data.n_classes, evaluation, seed, device
        )
        for split in splits:
            examples, series_labels = evaluation_sets[split]
            logits, labels = unit_logits(model, examples, series_labels, unit, device)
            predicted = logits.argmax(axis=1) if len(logits) else np.empty(0, np.int64)
            scores = classification_scores(labels, predicted, logits if len(logits) else None)
            for metric in metrics:
                results[eval_metric_name(split, FINETUNE_PROTOCOL, metric, fraction, prefix)] = scores.get(
                    metric, math.nan
                )
        del model
    return results
