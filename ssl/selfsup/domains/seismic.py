"""The seismic domain: facies segmentation of 2-D sections cut from 3-D amplitude volumes.

Sources: ``synthetic_seismic`` (the offline default, ``selfsup.data.synthetic_seismic``: a layered, folded,
faulted earth model whose layer ids are the facies), ``f3`` (the F3 Netherlands facies benchmark directory,
``selfsup.data.f3_facies``) and ``seismic_volume`` (an unlabelled ``.npy`` or SEG-Y volume, pretext only,
e.g. Parihaka as in the reference report).

Splits: the labelled volume's inlines are cut into one contiguous block per split with ``data.sections.gap``
unused inlines between blocks (``selfsup.data.inline_blocks``), because neighbouring inlines are nearly
identical: the reference report's validation inlines lay next to its test inlines and validation scores
(about .95 mIoU against .63 on test) could not select a model. With F3, validation is a block of the
training volume and test is the benchmark's test1 volume. The split is recorded with the sweep in MLflow.

Training examples are square patches (``data.sections.patch_size`` / ``patch_stride``) of the training
block's sections; evaluation runs on whole validation / test sections. Pretext patches are the training
block's (labels dropped) or, from another source, every section of that volume. Amplitudes are
standardised with the training block's mean and std.

Augmentations keep the data physical (``selfsup.augmentations.seismic``): random crops of ``input_size``
(>= 64), horizontal flips, amplitude scaling, additive noise; colour, blur and geometric distortions of
images are refused with the reason. Evaluation: the segmentation head (``selfsup.evaluation.segmentation``);
a finished trial also keeps the report head's prediction of the first test section (``example_prediction``).
"""
from __future__ import annotations

import functools
import json
from typing import Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from selfsup.augmentations.seismic import REFUSED_FOR_SEISMIC, SeismicAugmentationParams, SeismicAugmenter
from selfsup.domains import DOMAINS
from selfsup.domains.base import Domain, SourceFields
from selfsup.evaluation.metric_names import SEGMENTATION_METRICS, SEGMENTATION_PROTOCOLS
from selfsup.trial_params import TrialParams


class SyntheticSeismicOptions(BaseModel):
    """``options`` of the ``synthetic_seismic`` source: the generator's arguments
    (``selfsup.data.synthetic_seismic.synthetic_seismic``)."""

    model_config = ConfigDict(extra="forbid")

    n_inline: int = Field(96, ge=8)
    n_crossline: int = Field(96, ge=8)
    n_depth: int = Field(128, ge=24)
    n_facies: int = Field(6, ge=2)
    n_faults: int = Field(2, ge=0)
    fold_amplitude: float = Field(6.0, ge=0)
    noise: float = Field(0.1, ge=0)
    peak_frequency: float = Field(25.0, gt=0, lt=125)
    seed: int = 0


class SectionSpec(BaseModel):
    """``data.sections``: how labelled volumes become training patches and evaluation sections."""

    model_config = ConfigDict(extra="forbid")

    patch_size: int = Field(80, ge=64)
    patch_stride: int = Field(16, ge=1)
    # Inline sections only, or crossline sections of the same inline block as well (training patches).
    orientation: Literal["inline", "both"] = "inline"
    train: float = Field(0.6, gt=0)
    validation: float = Field(0.2, gt=0)
    test: float = Field(0.2, gt=0)   # ignored for F3, whose test set is its own volume
    gap: int = Field(5, ge=0)


class SeismicTrialParams(TrialParams, SeismicAugmentationParams):
    """The shared hyperparameters plus the crop size and the physical augmentations."""

    backbone: str = "deeplab_resnet50"


def _synthetic(options: Mapping[str, Any] | None):
    from selfsup.data.synthetic_seismic import synthetic_seismic_volume

    return synthetic_seismic_volume(**SyntheticSeismicOptions(**(options or {})).model_dump())


def load_labelled_volumes(spec: Mapping[str, Any]) -> dict:
    """``{"volume": labelled volume to split}`` (synthetic) or ``{"volume": F3 train, "test": F3 test1}``."""
    return _labelled_volumes(json.dumps(dict(spec), sort_keys=True))


# One entry: the driver's pre-flight check and the split it records read the same volumes (F3's are hundreds
# of megabytes); the data cache's actor, another process, loads them once more to prepare them.
@functools.lru_cache(maxsize=1)
def _labelled_volumes(spec_json: str) -> dict:
    from selfsup.data.errors import DataError
    from selfsup.data.f3_facies import load_f3

    spec = json.loads(spec_json)
    source = spec["source"]
    if source == "synthetic_seismic":
        return {"volume": _synthetic(spec.get("options"))}
    if source == "f3":
        return {"volume": load_f3(spec["path"], "train"), "test": load_f3(spec["path"], "test1")}
    raise DataError(f"{source}:{spec.get('path')} has no facies labels; it can only be pretext data "
                    f"(downstream seismic data: synthetic_seismic or f3)")


def load_pretext_volume(spec: Mapping[str, Any]):
    from selfsup.data.f3_facies import load_f3
    from selfsup.data.seismic_volume import load_unlabelled_volume

    source = spec["source"]
    if source == "synthetic_seismic":
        return _synthetic(spec.get("options"))
    if source == "f3":
        return load_f3(spec["path"], "train")
    return load_unlabelled_volume(spec["path"])


class SeismicDomain(Domain):
    name = "seismic"
    description = "seismic sections"
    Params = SeismicTrialParams
    sources = {"synthetic_seismic": SourceFields(options=SyntheticSeismicOptions),
               "f3": SourceFields(needs_path=True, path_hint="the F3 facies benchmark directory with train/ and "
                                                             "test_once/"),
               "seismic_volume": SourceFields(needs_path=True, path_hint="an unlabelled .npy or SEG-Y volume")}
    task = "segmentation"
    protocols = SEGMENTATION_PROTOCOLS
    default_protocols = ("seg_frozen",)
    metrics = SEGMENTATION_METRICS
    default_label_fractions = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)
    report_metrics = ("miou", "mf1", "pixel_acc")  # the report's columns; the first is the headline (gains)
    # Where pretraining matters (the reference report's central finding) and a cheap head to train per epoch.
    default_objective = "val/seg_frozen/miou/frac_0.05"
    refused_params = REFUSED_FOR_SEISMIC
    online_metrics = ()  # no cheap per-epoch readout besides the objective: heads are trained per evaluation

    def metric_applies(self, protocol: str, metric: str) -> bool:
        return protocol in self.protocols and (metric in self.metrics or metric.startswith("iou_"))

    def check_sweep(self, spec) -> None:
        if spec.data.downstream.source == "seismic_volume":
            raise ValueError("data.downstream seismic_volume has no facies labels; it can only be pretext data "
                             "(downstream: synthetic_seismic or f3)")
        sizes = [spec.fixed.get("input_size", SeismicAugmentationParams.model_fields["input_size"].default)]
        if "input_size" in spec.search:
            sizes = spec.search["input_size"].extremes()
        patch = spec.data.sections.patch_size
        if max(sizes) > patch:
            raise ValueError(f"input_size {max(sizes)} is larger than data.sections.patch_size {patch}: views are "
                             f"random crops of the training patches")

    def check_data(self, data) -> None:
        from selfsup.data.sources import same_dataset

        volumes = load_labelled_volumes(data.downstream.model_dump(mode="json"))
        self._split(volumes, data.sections.model_dump())  # a volume too small for the blocks fails here
        if not same_dataset(data.pretext, data.downstream):
            load_pretext_volume(data.pretext.model_dump(mode="json"))

    def data_arguments(self, data, seed: int, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"pretext": data.pretext.model_dump(mode="json"),
                "downstream": data.downstream.model_dump(mode="json"),
                "sections": data.sections.model_dump(mode="json"), "seed": seed}

    @staticmethod
    def _split(volumes: dict, sections: dict, seed: int = 0) -> dict[str, np.ndarray]:
        from selfsup.data.inline_blocks import inline_block_split

        fractions = {"train": sections["train"], "validation": sections["validation"]}
        if "test" not in volumes:
            fractions["test"] = sections["test"]
        split = inline_block_split(volumes["volume"].shape[0], fractions, sections["gap"], seed)
        if "test" in volumes:
            split["test"] = np.arange(volumes["test"].shape[0])
        return split

    def split_record(self, data, seed: int) -> dict:
        """The inline blocks of each split, as recorded with the sweep in MLflow."""
        from selfsup.data.inline_blocks import describe_split

        volumes = load_labelled_volumes(data.downstream.model_dump(mode="json"))
        return {"inline_blocks": describe_split(self._split(volumes, data.sections.model_dump(), seed)),
                "gap": data.sections.gap, "test_volume": "f3 test1" if "test" in volumes else "held-out block"}

    def prepare_data(self, pretext: dict, downstream: dict, sections: dict, seed: int):
        from selfsup.data.prepare import PreparedData
        from selfsup.data.seismic_volume import patches
        from selfsup.data.sources import same_dataset
        from selfsup.data.seismic_volume import sections as cut_sections
        from selfsup.data.windows import Windows

        volumes = load_labelled_volumes(downstream)
        split = self._split(volumes, sections, seed)
        volume = volumes["volume"]
        train_amplitude = volume.amplitude[split["train"]]
        mean, std = float(train_amplitude.mean()), float(train_amplitude.std()) or 1.0

        def standardised(x: np.ndarray) -> np.ndarray:
            return ((x - mean) / std).astype(np.float32)

        def training_patches(source_volume, inlines) -> tuple[np.ndarray, np.ndarray | None]:
            x, y, _ = cut_sections(source_volume, inlines, "inline")
            parts = [patches(x, y, sections["patch_size"], sections["patch_stride"])]
            if sections["orientation"] == "both":
                x, y, _ = cut_sections(source_volume, inlines, "crossline")
                parts.append(patches(x, y, sections["patch_size"], sections["patch_stride"]))
            return (np.concatenate([p[0] for p in parts]),
                    None if parts[0][1] is None else np.concatenate([p[1] for p in parts]))

        def examples(x, y, name) -> Windows:
            return Windows(standardised(x), y, np.arange(len(x), dtype=np.int64), name=name)

        train_x, train_y = training_patches(volume, split["train"])
        evaluation = {}
        for name, source_volume in (("validation", volume), ("test", volumes.get("test", volume))):
            x, y, _ = cut_sections(source_volume, split[name], "inline")
            evaluation[name] = examples(x, y, f"{volume.name} {name} sections")
        train = examples(train_x, train_y, f"{volume.name} train patches")
        if same_dataset(pretext, downstream):
            pretext_examples = train  # labels stay, as for time series; training_windows drops them
        else:
            other = load_pretext_volume(pretext)
            x, _ = training_patches(other, None)
            # Another survey: standardised with its own statistics, as pretext time series are.
            x = ((x - x.mean()) / (x.std() or 1.0)).astype(np.float32)
            pretext_examples = Windows(x, None, np.arange(len(x), dtype=np.int64), name=f"{other.name} patches")
        return PreparedData(train=train, validation=evaluation["validation"], test=evaluation["test"],
                            pretext=pretext_examples, n_channels=1, n_classes=len(volume.class_names),
                            class_names=list(volume.class_names), train_series_labels=None,
                            validation_series_labels=None, test_series_labels=None,
                            input_mean=np.array([mean], dtype=np.float32), input_std=np.array([std], dtype=np.float32))

    def build_augmenter(self, params: SeismicTrialParams, seed: int) -> SeismicAugmenter:
        return SeismicAugmenter(params, seed=seed)  # SeismicTrialParams is a SeismicAugmentationParams

    def example_prediction(self, backbone, data, spec, device) -> dict[str, np.ndarray]:
        """The first test section, its facies and the prediction of the report's head (the objective's
        segmentation protocol, else seg_frozen) trained on the largest label fraction evaluated."""
        from selfsup.evaluation.segmentation import example_prediction

        return example_prediction(backbone, data, spec, device, index=0)

    def evaluate(self, backbone, data, spec, device, *, include_test: bool, prefix: str = "") -> dict[str, float]:
        from selfsup.evaluation.segmentation import evaluate_segmentation

        return evaluate_segmentation(backbone, data, spec, device, protocols=spec.evaluation.protocols,
                                     fractions=spec.evaluation.label_fractions,
                                     splits=["val", "test"] if include_test else ["val"], prefix=prefix,
                                     health=not prefix)

    def validation_metrics(self, backbone, data, spec, device, names: list[str]) -> dict[str, float]:
        from selfsup.evaluation.metric_names import parse_eval_metric_name
        from selfsup.evaluation.segmentation import evaluate_segmentation

        wanted = [parsed for parsed in map(parse_eval_metric_name, names) if parsed and parsed.split == "val"]
        # The health metrics ride on the first evaluation, which computes the validation feature maps anyway.
        results = evaluate_segmentation(backbone, data, spec, device, protocols=[w.protocol for w in wanted[:1]],
                                        fractions=[w.fraction for w in wanted[:1]], splits=["val"], health=True)
        for parsed in wanted[1:]:
            if parsed.name not in results:
                results.update(evaluate_segmentation(backbone, data, spec, device, protocols=[parsed.protocol],
                                                     fractions=[parsed.fraction], splits=["val"]))
        return results


DOMAINS.register("seismic")(SeismicDomain())
