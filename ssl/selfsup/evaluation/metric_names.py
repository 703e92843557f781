"""Metric names: the one naming scheme every reported metric follows.

All names are valid MLflow metric keys (alphanumerics, ``_ - . /`` and space only) and read as paths, so
the MLflow UI groups them and an objective can be named in a search-space file.

Evaluation metrics (a readout on the frozen backbone, or the backbone fine-tuned with a head, trained on a
fraction of the training labels)::

    {split}/{protocol}/{metric}/frac_{fraction}

    split     "val" | "cv" | "test"    val and cv select (objective, ASHA), test only reports:
                                       val  scored on the validation split
                                       cv   stratified k-fold cross-validation over every labelled
                                            non-test unit (train + validation), averaged over folds
                                            and repeats: less noisy than a small validation split
                                       test scored on the official test split
    protocol  classification (time series, images), readouts on frozen features:
              "linear" | "knn" | "mlp" logistic regression | cosine kNN | 3-layer MLP readout
              and, opt-in (one backbone training per fraction; selfsup.evaluation.finetune):
              "finetune"               a copy of the backbone and a linear head trained end to end
              segmentation (seismic), the segmentation head trained on labelled sections:
              "seg_frozen"             on the frozen pretrained backbone
              "seg_finetune"           with the backbone fine-tuned
    metric    classification: "acc" | "f1" | "top5"     accuracy | macro-F1 | top-5 accuracy (images only)
              segmentation:   "miou" | "mf1" | "pixel_acc" | "fwiou" | "iou_<class name>"
                              mean IoU | mean F1 | pixel accuracy | frequency-weighted IoU | one class's IoU
    fraction  label fraction in (0, 1], shortest float form: 1.0, 0.5, 0.25, 0.01

    e.g. val/knn/acc/frac_1.0, test/linear/f1/frac_0.01, cv/linear/acc/frac_0.1, test/finetune/acc/frac_0.1,
         test/seg_frozen/miou/frac_0.05

    (cv/finetune/... is not produced: cross-validating would fine-tune folds x repeats backbones.)

The same evaluation of the untrained (randomly initialised) backbone, the baseline that shows what
pretraining adds, carries the prefix ``random_init/``::

    random_init/test/linear/acc/frac_1.0

Label-free health metrics (collapse monitors, on validation embeddings)::

    health/embedding_std     std of the L2-normalised embeddings times sqrt(D): ~1 healthy, 0 collapsed
    health/rankme            effective rank of the embeddings (RankMe), in [1, min(N, D)]

Training metrics (mean over the epoch's steps)::

    train/loss               the method's loss
    train/<term>             each loss term the method reports (e.g. train/invariance)

The size of what the test scores are over, recorded with them (a score over 40 units moves in steps of 2.5
points)::

    data/test_units          how many test units were scored: series, windows, images or sections
                             (``Domain.evaluation_unit`` names which)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

SPLITS = ("val", "test", "cv")
SELECTION_SPLITS = ("val", "cv")  # what may choose a configuration; test never does
PROTOCOLS = ("linear", "knn", "mlp")  # classification readouts on frozen features
FINETUNE_PROTOCOL = "finetune"  # classification: the backbone trained with a head
CLASSIFICATION_PROTOCOLS = PROTOCOLS + (FINETUNE_PROTOCOL,)
SEGMENTATION_PROTOCOLS = ("seg_frozen", "seg_finetune")
ALL_PROTOCOLS = CLASSIFICATION_PROTOCOLS + SEGMENTATION_PROTOCOLS
EVAL_METRICS = ("acc", "f1")  # what every classification evaluation records
CLASSIFICATION_METRICS = EVAL_METRICS + ("top5",)  # top-5 where classes are many (the image domain)
SEGMENTATION_METRICS = ("miou", "mf1", "pixel_acc", "fwiou")
PER_CLASS_IOU_PREFIX = "iou_"  # iou_<class name>: one class's IoU
_PER_CLASS_PATTERN = re.compile(r"^iou_[A-Za-z0-9_]+$")
HEALTH_METRICS = ("health/embedding_std", "health/rankme")
TRAINING_LOSS = "train/loss"  # the training loss, averaged over an epoch's steps; every epoch's result has it
TRAINING_METRICS = (TRAINING_LOSS,)
RANDOM_INIT_PREFIX = "random_init/"
TEST_UNITS_METRIC = "data/test_units"

# MLflow's own check for metric keys (mlflow.utils.validation).
MLFLOW_KEY_PATTERN = re.compile(r"^[/\w.\- ]*$")

_EVAL_NAME_PATTERN = re.compile(
    r"^(?P<prefix>(?:[\w.\- ]+/)*?)"
    rf"(?P<split>{'|'.join(SPLITS)})/"
    rf"(?P<protocol>{'|'.join(ALL_PROTOCOLS)})/"
    r"(?P<metric>[A-Za-z0-9_]+)/"
    r"frac_(?P<fraction>[0-9.eE+\-]+)$"
)


def is_known_metric(metric: str) -> bool:
    return metric in CLASSIFICATION_METRICS or metric in SEGMENTATION_METRICS or bool(_PER_CLASS_PATTERN.match(metric))


def format_fraction(fraction: float) -> str:
    """Shortest round-tripping form of a label fraction: 1 -> "1.0", 0.5 -> "0.5", 0.01 -> "0.01"."""
    return repr(float(fraction))


def eval_metric_name(split: str, protocol: str, metric: str, fraction: float, prefix: str = "") -> str:
    """``{prefix}{split}/{protocol}/{metric}/frac_{fraction}``, e.g. ``val/knn/acc/frac_1.0``.

    ``prefix`` is empty or ends with "/" (``random_init/`` for the untrained backbone).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; known: {', '.join(SPLITS)}")
    if protocol not in ALL_PROTOCOLS:
        raise ValueError(f"unknown protocol '{protocol}'; known: {', '.join(ALL_PROTOCOLS)}")
    if not is_known_metric(metric):
        raise ValueError(
            f"unknown metric '{metric}'; known: {', '.join(CLASSIFICATION_METRICS + SEGMENTATION_METRICS)}"
            f", iou_<class name>"
        )
    if not (math.isfinite(fraction) and 0 < fraction <= 1):
        raise ValueError(f"label fraction {fraction} is outside (0, 1]")
    if prefix and not (prefix.endswith("/") and MLFLOW_KEY_PATTERN.match(prefix)):
        raise ValueError(f"metric prefix '{prefix}' must end with '/' and use only alphanumerics, _ - . / and space")
    return f"{prefix}{split}/{protocol}/{metric}/frac_{format_fraction(fraction)}"


@dataclass(frozen=True)
class EvalMetricName:
    """The parts of an evaluation metric name (see the module docstring)."""

    prefix: str
    split: str
    protocol: str
    metric: str
    fraction: float

    @property
    def name(self) -> str:
        return eval_metric_name(self.split, self.protocol, self.metric, self.fraction, self.prefix)

    def __str__(self) -> str:
        return self.name


def parse_eval_metric_name(name: str) -> EvalMetricName | None:
    """The parts of an evaluation metric name, or None if ``name`` is not one (health/, train/, typos).

    Only canonical names parse: ``frac_1`` is not ``frac_1.0``, so one metric has exactly one name.
    """
    match = _EVAL_NAME_PATTERN.match(name)
    if match is None or not is_known_metric(match["metric"]):
        return None
    try:
        fraction = float(match["fraction"])
    except ValueError:
        return None
    if not (math.isfinite(fraction) and 0 < fraction <= 1) or format_fraction(fraction) != match["fraction"]:
        return None
    return EvalMetricName(match["prefix"], match["split"], match["protocol"], match["metric"], fraction)
