"""The image domain: natural images (CIFAR, Tiny-ImageNet, any ImageFolder tree) and scikit-learn's digits.

Sources (``ImageDomain.sources``, loaders in ``selfsup.data.images``): ``digits`` (bundled with scikit-learn, the
offline default), ``cifar10`` and ``cifar100`` (torchvision's python batches under a local root),
``tiny_imagenet`` and ``image_folder`` (a local tree). Images are float32 in [0, 1], (channels, height, width);
every image is its own evaluation unit. Backbones read (batch, channels, height, width) (resnet18/50 and their
small-stem variants, cnn5). Augmentations are torchvision transforms v2 built from the trial's hyperparameters
(``augmentation_preset`` simclr / byol / none, each field overridable and searchable; ``input_size`` the crop
size), see ``selfsup.augmentations.images``. Evaluation: readouts on frozen features, or (``finetune``, opt-in)
the backbone fine-tuned with a linear head, at each label fraction; accuracy, top-5 accuracy and macro-F1 (the
reference reports' CIFAR-10 and Tiny-ImageNet tables report top-1 and top-5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from pydantic import field_validator

from selfsup.augmentations.images import ImageAugmentationParams, ImageAugmenter
from selfsup.data.images.sources import IMAGE_SOURCES
from selfsup.domains.base import (
    DOMAINS,
    CarvedValidation,
    DataSpec,
    Domain,
    check_cv_folds,
    cross_validated,
)
from selfsup.evaluation.metric_names import CLASSIFICATION_METRICS, CLASSIFICATION_PROTOCOLS
from selfsup.trial_params import TrialParams

if TYPE_CHECKING:
    from selfsup.data.prepared import PreparedData

#: The largest ``input_size`` (side of the square views, in pixels): about 21 times the area of ImageNet's 224 crops.
#: A batch of views is batch x views x channels x side^2 floats: 1024 is 12 MiB per RGB view, 40,000 would be
#: 18 GiB per view, a size no sweep means.
MAX_IMAGE_INPUT_SIZE = 1024


class ImageTrialParams(TrialParams, ImageAugmentationParams):
    """The shared hyperparameters plus the crop size and the image augmentations."""

    backbone: str = "resnet18_small"

    @field_validator("input_size")
    @classmethod
    def _input_size_bounded(cls, value: int) -> int:
        if value > MAX_IMAGE_INPUT_SIZE:
            raise ValueError(
                f"input_size {value} is larger than {MAX_IMAGE_INPUT_SIZE} (the side of the square "
                f"views in pixels: one RGB view of {value} x {value} floats is "
                f"{3 * 4 * value * value / 2**30:.1f} GiB); expected at most {MAX_IMAGE_INPUT_SIZE}"
            )
        return value


def load_image_splits(spec: Any, *, train_only: bool = False) -> dict:
    """``{"train", "test"[, "validation"]: ImageSet}`` of a ``DatasetSpec`` (or dict) of this domain, loaded by its
    source's entry in ``ImageDomain.sources``."""
    from selfsup.data.dataset_specs import spec_field

    return ImageDomain.sources[spec_field(spec, "source")].load(spec, train_only=train_only)


class ImageData(CarvedValidation, DataSpec):
    """``data`` of an image sweep: the data sets and the share of training images held out for validation."""


def _examples(images, name: str):
    """An ``ImageSet`` as the trainer's ``Windows``: every image is its own unit (series index = its index)."""
    from selfsup.data.windows import Windows

    return Windows(
        x=np.ascontiguousarray(images.images, dtype=np.float32),
        y=None if images.labels is None else np.asarray(images.labels, dtype=np.int64),
        series_index=np.arange(len(images.images), dtype=np.int64),
        name=name,
    )


@DOMAINS.register("images")
class ImageDomain(Domain[ImageTrialParams, ImageData]):
    name = "images"
    description = "images"
    Params = ImageTrialParams
    Data = ImageData
    sources = IMAGE_SOURCES
    task = "classification"
    protocols = CLASSIFICATION_PROTOCOLS  # readouts on frozen features, and fine-tuning (opt-in)
    default_protocols = ("linear", "knn")
    metrics = CLASSIFICATION_METRICS
    report_metrics = ("acc", "top5", "f1")  # the report's columns; the first is the headline (gains)
    default_objective = "val/linear/acc/frac_1.0"

    def describe_data(self, data: ImageData) -> str:
        return f"validation {data.validation_fraction:g} of train"

    def check_data(self, data) -> None:
        from selfsup.data.dataset_specs import describe, same_dataset
        from selfsup.data.errors import DataError

        downstream = load_image_splits(data.downstream, train_only=True)["train"].n_channels
        if same_dataset(data.pretext, data.downstream):
            return  # loaded once: a set has one channel count
        pretext = load_image_splits(data.pretext, train_only=True)["train"].n_channels
        if pretext != downstream:
            raise DataError(
                f"pretext data {describe(data.pretext)} has {pretext} channels but "
                f"downstream data {describe(data.downstream)} has {downstream}"
            )

    def check_input_sizes(self, data, evaluation, objective, search, fixed, *, bundled_only: bool = False) -> None:
        """A cross-validated objective's ``evaluation.cv_folds`` against the labelled (training and validation)
        images of each class; in the dry run for the bundled digits only (the other sets are files)."""
        from selfsup.data.dataset_specs import describe

        downstream = data.downstream
        if not cross_validated(objective) or (bundled_only and not self.sources[downstream.source].bundled):
            return
        splits = load_image_splits(downstream)
        labels = np.concatenate([splits[name].labels for name in ("train", "validation") if name in splits])
        check_cv_folds(objective, evaluation, labels, "images", describe(downstream))

    def data_arguments(self, data, seed: int, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "pretext": data.pretext.model_dump(mode="json"),
            "downstream": data.downstream.model_dump(mode="json"),
            "validation_fraction": data.validation_fraction,
            "seed": seed,
        }

    def prepare_data(self, pretext: dict, downstream: dict, validation_fraction: float, seed: int) -> PreparedData:
        """Downstream train / validation / test images (validation carved from train, stratified and seeded,
        when the set has none) and the pretext images: the downstream training images themselves when both
        name the same data (never validation or test; their labels stay, as for time series, and
        ``selfsup.pretrain.training_windows`` drops them), else the other set's training images."""
        from selfsup.data.dataset_specs import describe, same_dataset
        from selfsup.data.images.image_sets import carve_image_validation
        from selfsup.data.prepared import PreparedData, require_same_channels

        name = describe(downstream)
        splits = load_image_splits(downstream)
        if "validation" not in splits:
            splits["train"], splits["validation"] = carve_image_validation(splits["train"], validation_fraction, seed)
        examples = {split: _examples(images, f"{name} {split}") for split, images in splits.items()}
        train = splits["train"]
        if same_dataset(pretext, downstream):
            pretext_examples = examples["train"]
        else:
            other = load_image_splits(pretext, train_only=True)["train"]
            require_same_channels(pretext, other.n_channels, downstream, train.n_channels)
            pretext_examples = _examples(other, f"{describe(pretext)} train")
        return PreparedData(
            train=examples["train"],
            validation=examples["validation"],
            test=examples["test"],
            pretext=pretext_examples,
            n_channels=train.n_channels,
            n_classes=len(train.class_names),
            class_names=list(train.class_names),
            train_series_labels=examples["train"].y,
            validation_series_labels=examples["validation"].y,
            test_series_labels=examples["test"].y,
        )

    def build_augmenter(self, params: ImageTrialParams, seed: int) -> ImageAugmenter:
        return ImageAugmenter(params, seed=seed)  # ImageTrialParams is an ImageAugmentationParams

    def evaluation_model(self, backbone, params: ImageTrialParams):
        """Stored images resized to the trial's ``input_size`` before the backbone: training views are
        ``input_size`` crops resized from the image, so an 8 x 8 digit seen as 16 x 16 views in training is
        embedded at 16 x 16 too (at 8 x 8 its strokes would be half the size the encoder learned)."""
        from selfsup.augmentations.images import ResizedInput

        return ResizedInput(backbone, params.input_size)

    def evaluation_unit(self, evaluation) -> str:
        return "images"

    def embedding_table(self, backbone, data, evaluation, seed, device):
        from selfsup.evaluation.classification import embedding_table

        return embedding_table(backbone, data, device, "example", seed)

    def evaluate(
        self, backbone, data, evaluation, seed, device, *, include_test: bool, prefix: str = ""
    ) -> dict[str, float]:
        from selfsup.evaluation.classification import evaluate_classification

        return evaluate_classification(
            backbone, data, evaluation, seed, device, "example", self.metrics, include_test=include_test, prefix=prefix
        )

    def validation_metrics(self, backbone, data, evaluation, seed, device, names: list[str]) -> dict[str, float]:
        from selfsup.evaluation.classification import classification_validation_metrics

        return classification_validation_metrics(backbone, data, evaluation, seed, device, "example", names)
