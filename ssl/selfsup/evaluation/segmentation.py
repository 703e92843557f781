"""Segmentation evaluation of a pretrained backbone: the reference report's head, trained on labelled
patches at each label fraction, scored on whole validation / test sections.

Protocols (``metric_names``):

- ``seg_frozen``: the backbone is frozen; its feature maps of the training patches and of the evaluation
  sections are computed once, and only the head (``selfsup.segmentation_head.SegmentationHead``) is trained
  on them, so every label fraction costs one head.
- ``seg_finetune``: a copy of the backbone is trained with the head, end to end. Run from a randomly
  initialised backbone (``random_init/``) it is the supervised baseline with the same labels.

For each label fraction f, the head trains on a seeded subset of ceil(f x n) training patches, nested across
fractions (one permutation, subsets are its prefixes, as ``selfsup.data.splits.label_fraction_indices``),
for ``evaluation.segmentation_epochs`` passes with Adam and pixel-wise cross-entropy. Predictions of each
split's sections accumulate in one confusion matrix, from which ``segmentation_metrics`` derives mIoU, mean
F1, pixel accuracy, frequency-weighted IoU and the IoU of each class. Training is seeded and does not touch
the caller's random state, so a per-epoch objective equals the same metric in the final evaluation. The
health metrics are measured on feature vectors at random positions of the validation feature maps.

``example_prediction`` trains the report's head once more, as the evaluation trains it, and predicts one
test section with it: what a finished trial stores for the report's "section | truth | prediction" figure.
"""

from __future__ import annotations

import copy
import math
import re
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from selfsup.backbones.base import FeatureMapBackbone
from selfsup.evaluation.classification import health_metrics
from selfsup.evaluation.metric_names import SEGMENTATION_PROTOCOLS, eval_metric_name, parse_eval_metric_name
from selfsup.evaluation.segmentation_metrics import confusion_matrix, segmentation_scores
from selfsup.failures import require_finite_embeddings
from selfsup.segmentation_head import SegmentationHead, SegmentationModel

if TYPE_CHECKING:
    from selfsup.data.prepared import PreparedData
    from selfsup.specs import EvaluationSpec

EVAL_BATCH = 8
HEALTH_PIXELS = 4096  # feature-map positions the health metrics are measured on


def nested_fraction_indices(n: int, fractions: Sequence[float], seed: int) -> dict[float, np.ndarray]:
    """Sorted indices of ceil(f x n) (at least 1) of ``n`` examples per fraction f; the subsets are prefixes of
    one seeded permutation, so the 1 % subset lies inside the 5 % one."""
    order = np.random.default_rng(seed).permutation(n)
    return {f: np.sort(order[: max(1, math.ceil(f * n - 1e-9))]) for f in fractions}


def metric_class_names(class_names: Sequence[str]) -> list[str]:
    """Class names usable in metric keys (``iou_<name>``): anything but letters, digits and _ becomes _."""
    return [re.sub(r"\W+", "_", str(name)).strip("_") or f"class_{i}" for i, name in enumerate(class_names)]


@torch.no_grad()
def _features(backbone: nn.Module, x: np.ndarray, device) -> list[torch.Tensor]:
    """Frozen feature maps in eval mode, in batches (kept on ``device``); ``NonFiniteEmbeddingsError`` where any
    value is NaN or infinite."""
    if not isinstance(backbone, FeatureMapBackbone):
        raise AttributeError(f"backbone {type(backbone).__name__} has no forward_features (an image backbone's)")
    was_training = backbone.training
    backbone.eval()
    out = [
        require_finite_embeddings(backbone.forward_features(torch.tensor(x[i : i + EVAL_BATCH], device=device)))
        for i in range(0, len(x), EVAL_BATCH)
    ]
    backbone.train(was_training)
    return out


def _train(parameters, step, n: int, batch_size: int, epochs: int, lr: float) -> None:
    optimizer = torch.optim.Adam(parameters, lr=lr)
    for _ in range(epochs):
        for batch in torch.randperm(n).split(batch_size):
            loss = step(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def _frozen_head(
    backbone: nn.Module,
    train_features: torch.Tensor,
    labels: torch.Tensor,
    chosen: np.ndarray,
    n_classes: int,
    options,
    seed: int,
    device,
) -> SegmentationHead:
    """The ``seg_frozen`` head (in eval mode) trained on the frozen feature maps of the training patches
    ``chosen`` (indices into ``train_features`` / ``labels``), seeded with ``seed`` and leaving the caller's
    random state alone."""
    if not isinstance(backbone, FeatureMapBackbone):
        raise AttributeError(f"backbone {type(backbone).__name__} has no feature_channels (an image backbone's)")
    chosen_rows = torch.as_tensor(chosen, device=device)
    output_size = tuple(labels.shape[-2:])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = SegmentationHead(backbone.feature_channels, n_classes, options.segmentation_head_channels).to(device)
        _train(
            head.parameters(),
            lambda batch: F.cross_entropy(
                head(train_features[chosen_rows[batch]], output_size), labels[chosen_rows[batch]]
            ),
            len(chosen_rows),
            options.segmentation_batch_size,
            options.segmentation_epochs,
            options.segmentation_lr,
        )
    return head.eval()


def _finetuned_model(
    backbone: nn.Module,
    train_x: np.ndarray,
    train_y: np.ndarray,
    chosen: np.ndarray,
    n_classes: int,
    options,
    seed: int,
    device,
) -> SegmentationModel:
    """The ``seg_finetune`` model (in eval mode): a copy of ``backbone`` and a head trained end to end on the
    training patches ``chosen``, seeded with ``seed`` and leaving the caller's random state alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SegmentationModel(
            copy.deepcopy(backbone), n_classes, hidden_channels=options.segmentation_head_channels
        ).to(device)
        model.train()
        x = torch.tensor(train_x[chosen], device=device)
        y = torch.tensor(train_y[chosen], device=device)
        # A batch of one cannot train BatchNorm: fine-tuning batches keep at least two patches.
        batch_size = max(2, min(options.segmentation_batch_size, len(chosen)))
        if len(chosen) < 2:
            x, y = x.repeat(2, 1, 1, 1), y.repeat(2, 1, 1)
        _train(
            model.parameters(),
            lambda batch: F.cross_entropy(model(x[batch]), y[batch]),
            len(x),
            batch_size,
            options.segmentation_epochs,
            options.segmentation_lr,
        )
    return model.eval()


def _confusion(predict, x: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    total = np.zeros((n_classes, n_classes), np.int64)
    for start in range(0, len(x), EVAL_BATCH):
        logits = predict(start)
        total += confusion_matrix(y[start : start + EVAL_BATCH], logits.argmax(1).cpu().numpy(), n_classes)
    return total


def evaluate_segmentation(
    backbone: nn.Module,
    data,
    evaluation,
    seed,
    device,
    *,
    protocols: Sequence[str],
    fractions: Sequence[float],
    splits: Sequence[str],
    prefix: str = "",
    health: bool = False,
) -> dict[str, float]:
    """``{prefix}{split}/{protocol}/{miou|mf1|pixel_acc|fwiou|iou_<class>}/frac_{f}`` for every protocol,
    fraction and split ("val" and/or "test"), plus the health metrics of the pooled validation features
    when ``health``."""
    options = evaluation
    train_x, train_y = data.train.x, data.train.y
    evaluation_sets = {"val": data.validation, "test": data.test}
    n_classes, names = data.n_classes, metric_class_names(data.class_names)
    subsets = nested_fraction_indices(len(train_x), fractions, seed)
    results: dict[str, float] = {}

    def record(split: str, protocol: str, fraction: float, confusion: np.ndarray) -> None:
        for metric, value in segmentation_scores(confusion, names).items():
            results[eval_metric_name(split, protocol, metric, fraction, prefix)] = value

    split_features: dict[str, list[torch.Tensor]] = {}  # frozen feature maps per split, computed once

    def features_of(split: str) -> list[torch.Tensor]:
        if split not in split_features:
            split_features[split] = _features(backbone, evaluation_sets[split].x, device)
        return split_features[split]

    if "seg_frozen" in protocols:
        train_features = torch.cat(_features(backbone, train_x, device))
        labels = torch.tensor(train_y, device=device)
        for fraction in fractions:
            head = _frozen_head(backbone, train_features, labels, subsets[fraction], n_classes, options, seed, device)
            for split in splits:
                sections = evaluation_sets[split]
                with torch.no_grad():
                    confusion = _confusion(
                        lambda start: head(features_of(split)[start // EVAL_BATCH], sections.x.shape[-2:]),
                        sections.x,
                        sections.y,
                        n_classes,
                    )
                record(split, "seg_frozen", fraction, confusion)

    if "seg_finetune" in protocols:
        for fraction in fractions:
            model = _finetuned_model(backbone, train_x, train_y, subsets[fraction], n_classes, options, seed, device)
            for split in splits:
                sections = evaluation_sets[split]
                with torch.no_grad():
                    confusion = _confusion(
                        lambda start: model(torch.tensor(sections.x[start : start + EVAL_BATCH], device=device)),
                        sections.x,
                        sections.y,
                        n_classes,
                    )
                record(split, "seg_finetune", fraction, confusion)

    if health:
        results.update(health_metrics(pixel_features(features_of("val"), seed)))
    return results


def example_protocol(evaluation: EvaluationSpec, objective: str) -> tuple[str, float]:
    """The protocol and label fraction of the model whose prediction a trial stores as its example: the
    objective's protocol where it is a segmentation protocol (the one the report shows), else ``seg_frozen``
    where it is evaluated, else the first segmentation protocol evaluated; at the largest label fraction
    evaluated (100 % where 1.0 is among them)."""
    protocols, fractions = evaluation.protocols, evaluation.label_fractions
    assert protocols is not None and fractions is not None  # a sweep's spec fills in the domain's defaults
    parsed = parse_eval_metric_name(objective)
    evaluated = [p for p in protocols if p in SEGMENTATION_PROTOCOLS]
    if parsed is not None and parsed.protocol in SEGMENTATION_PROTOCOLS:
        protocol = parsed.protocol
    elif "seg_frozen" in evaluated:
        protocol = "seg_frozen"
    elif evaluated:
        protocol = evaluated[0]
    else:
        raise ValueError(f"no segmentation protocol among evaluation.protocols {protocols}")
    return protocol, max(fractions)


def example_prediction(
    backbone: nn.Module,
    data: PreparedData,
    evaluation: EvaluationSpec,
    seed: int,
    device: torch.device,
    objective: str,
    index: int = 0,
) -> dict[str, np.ndarray]:
    """One test section, its facies and the prediction of the ``example_protocol`` model, trained exactly as
    ``evaluate_segmentation`` trains it (same label subset, seed, head and schedule, so the same weights),
    as numpy arrays ready for ``numpy.savez``:

    - ``section`` (H, W) float32: the standardised amplitudes the model read (channel 0 of ``data.test.x``);
    - ``truth``, ``prediction`` (H, W) int64: class indices into ``class_names`` (str, n_classes);
    - ``protocol`` (str), ``fraction`` (float), ``index`` (int): 0-d arrays, which model and which section
      (its position in the test split).

    Costs one head training (``seg_frozen``: plus the frozen feature maps of the training patches;
    ``seg_finetune``: one fine-tuning) and a forward pass of one section."""
    protocol, fraction = example_protocol(evaluation, objective)
    options, train, sections = evaluation, data.train, data.test
    if not 0 <= index < len(sections):
        raise IndexError(f"test section {index} of {len(sections)}")
    assert train.y is not None and sections.y is not None  # the downstream patches and sections are labelled
    chosen = nested_fraction_indices(len(train.x), [fraction], seed)[fraction]
    x = sections.x[index : index + 1]
    if protocol == "seg_frozen":
        head = _frozen_head(
            backbone,
            torch.cat(_features(backbone, train.x, device)),
            torch.tensor(train.y, device=device),
            chosen,
            data.n_classes,
            options,
            seed,
            device,
        )
        with torch.no_grad():
            logits = head(_features(backbone, x, device)[0], x.shape[-2:])
    else:
        model = _finetuned_model(backbone, train.x, train.y, chosen, data.n_classes, options, seed, device)
        with torch.no_grad():
            logits = model(torch.tensor(x, device=device))
    return {
        "section": np.asarray(x[0, 0], dtype=np.float32),
        "truth": np.asarray(sections.y[index], dtype=np.int64),
        "prediction": logits.argmax(1)[0].cpu().numpy().astype(np.int64),
        "class_names": np.asarray([str(name) for name in data.class_names]),
        "protocol": np.asarray(protocol),
        "fraction": np.asarray(float(fraction)),
        "index": np.asarray(index),
    }


def pixel_features(feature_maps: Sequence[torch.Tensor], seed: int, count: int = HEALTH_PIXELS) -> np.ndarray:
    """Feature vectors at ``count`` seeded random positions of ``feature_maps`` (B, C, h, w): what a segmentation
    head reads, so the health metrics measure collapse of the dense features (pooling whole sections, which
    are statistically alike, would average their differences away)."""
    vectors = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]) for f in feature_maps])
    chosen = np.random.default_rng(seed).permutation(len(vectors))[:count]
    return vectors[torch.as_tensor(chosen, device=vectors.device)].float().cpu().numpy()
