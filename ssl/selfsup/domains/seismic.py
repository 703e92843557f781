"""The seismic domain: facies segmentation of 2-D sections cut from 3-D amplitude volumes.

Sources (``SeismicDomain.sources``, loaders in ``selfsup.data.seismic``): ``synthetic_seismic`` (the offline
default, ``synthetic_seismic.py``: a layered, folded, faulted earth model whose layer ids are the facies), ``f3``
(the F3 Netherlands facies benchmark directory, ``f3_facies.py``) and ``seismic_volume`` (an unlabelled ``.npy``
or SEG-Y volume, ``seismic_volume.py``; pretext only, e.g. Parihaka as in the reference report).

Splits: the labelled volume's inlines are cut into one contiguous block per split with ``data.sections.gap``
unused inlines between blocks (``selfsup.data.seismic.inline_blocks``), because neighbouring inlines are nearly
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
from typing import TYPE_CHECKING, Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from selfsup.augmentations.seismic import REFUSED_FOR_SEISMIC, SeismicAugmentationParams, SeismicAugmenter
from selfsup.data.seismic.sources import SEISMIC_SOURCES
from selfsup.domains.base import DOMAINS, DataSpec, Domain
from selfsup.evaluation.metric_names import SEGMENTATION_METRICS, SEGMENTATION_PROTOCOLS
from selfsup.trial_params import TrialParams

if TYPE_CHECKING:
    from selfsup.data.prepared import PreparedData


class SectionSpec(BaseModel):
    """``data.sections``: how labelled volumes become training patches and evaluation sections."""

    model_config = ConfigDict(extra="forbid")

    # Defaults by keyword: type checkers see a default only there (it is the ``default_factory`` of
    # SeismicData.sections, so it must be constructible without arguments).
    patch_size: int = Field(default=80, ge=64)
    patch_stride: int = Field(default=16, ge=1)
    # Inline sections only, or crossline sections of the same inline block as well (training patches).
    orientation: Literal["inline", "both"] = "inline"
    train: float = Field(default=0.6, gt=0)
    validation: float = Field(default=0.2, gt=0)
    test: float = Field(default=0.2, gt=0)  # ignored for F3, whose test set is its own volume
    gap: int = Field(default=5, ge=0)


class SeismicData(DataSpec):
    """``data`` of a seismic sweep: the volumes and how their sections are split and cut into patches
    (validation is an inline block, ``sections.validation``)."""

    sections: SectionSpec = Field(default_factory=SectionSpec, description="cuts seismic volumes into patches")


class SeismicTrialParams(TrialParams, SeismicAugmentationParams):
    """The shared hyperparameters plus the crop size and the physical augmentations."""

    backbone: str = "deeplab_resnet50"


def load_labelled_volumes(spec: Mapping[str, Any]) -> dict:
    """``{"volume": labelled volume to split}`` (synthetic) or ``{"volume": F3 train, "test": F3 test1}``: the
    loader of the spec's source in ``SeismicDomain.sources``, for a source with labels."""
    return _labelled_volumes(json.dumps(dict(spec), sort_keys=True))


# One entry: the driver's pre-flight check and the split it records read the same volumes (F3's are hundreds
# of megabytes); the data cache's actor, another process, loads them once more to prepare them.
@functools.lru_cache(maxsize=1)
def _labelled_volumes(spec_json: str) -> dict:
    from selfsup.data.errors import DataError

    spec = json.loads(spec_json)
    source = SeismicDomain.sources.get(spec["source"])
    if source is None or not source.labelled:
        raise DataError(
            f"{spec['source']}:{spec.get('path')} has no facies labels; it can only be pretext data "
            f"(downstream seismic data: {labelled_sources()})"
        )
    return source.load(spec)


def labelled_sources() -> str:
    """The seismic sources with facies labels, for messages: "synthetic_seismic or f3"."""
    return " or ".join(name for name, source in SeismicDomain.sources.items() if source.labelled)


def labelled_class_names(spec: Mapping[str, Any]) -> list[str] | None:
    """The facies names of a labelled source as its loader names them, known without reading any data (its
    entry's ``class_names``): the synthetic generator's ``facies_<i>`` of its ``n_facies`` option, F3's six
    units; None for other sources."""
    source = SeismicDomain.sources.get(spec["source"])
    return None if source is None else source.known_class_names(spec)


def labelled_training_sections(
    shape: tuple[int, ...], sections: Mapping[str, Any], *, held_out_test: bool
) -> list[tuple[str, int, int]]:
    """(which, height, width) of every kind of section ``prepare_data`` cuts training patches from in the
    labelled volume of ``shape`` (inline, crossline, depth): its inline sections (depth x crossline) and, with
    ``orientation: both``, its crossline sections restricted to the training block (depth x the block's inlines;
    ``held_out_test``: the test block is carved from this volume too, as for synthetic data)."""
    from selfsup.data.seismic.inline_blocks import inline_block_split

    n_inline, n_crossline, n_depth = shape
    found = [("inline sections", n_depth, n_crossline)]
    if sections["orientation"] == "both":
        fractions = {"train": sections["train"], "validation": sections["validation"]}
        if held_out_test:
            fractions["test"] = sections["test"]
        block = len(inline_block_split(n_inline, fractions, sections["gap"])["train"])
        found.append((f"crossline sections of the {block}-inline training block", n_depth, block))
    return found


def pretext_training_sections(shape: tuple[int, ...], sections: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """The same for a pretext volume of another source, every inline of which is cut into patches."""
    n_inline, n_crossline, n_depth = shape
    found = [("inline sections", n_depth, n_crossline)]
    if sections["orientation"] == "both":
        found.append(("crossline sections", n_depth, n_inline))
    return found


def check_patches_fit(
    sections: Mapping[str, Any], found: list[tuple[str, int, int]], spec: Mapping[str, Any], role: str
) -> None:
    """``DataError`` when ``data.sections.patch_size`` is larger than a section of the ``role`` (pretext or
    downstream) data ``spec`` it would be cut from."""
    from selfsup.data.dataset_specs import describe
    from selfsup.data.errors import DataError

    data, size = f"{role} data {describe(spec)}", sections["patch_size"]
    for which, height, width in found:
        if size > min(height, width):
            raise DataError(
                f"data.sections.patch_size {size} is larger than the {which} of {data} ({height} deep "
                f"x {width} wide); expected patch_size <= {min(height, width)}"
            )


def load_pretext_volume(spec: Mapping[str, Any]):
    """The volume pretext patches are cut from: the one its source's loader returns with ``train_only`` (F3's
    train volume without its test1)."""
    return SeismicDomain.sources[spec["source"]].load(spec, train_only=True)["volume"]


@DOMAINS.register("seismic")
class SeismicDomain(Domain[SeismicTrialParams, SeismicData]):
    name = "seismic"
    description = "seismic sections"
    Params = SeismicTrialParams
    Data = SeismicData
    sources = SEISMIC_SOURCES
    task = "segmentation"
    protocols = SEGMENTATION_PROTOCOLS
    default_protocols = ("seg_frozen",)
    metrics = SEGMENTATION_METRICS
    default_label_fractions = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)
    report_metrics = ("miou", "mf1", "pixel_acc")  # the report's columns; the first is the headline (gains)
    # Where pretraining matters (the reference report's central finding) and a cheap head to train per epoch.
    default_objective = "val/seg_frozen/miou/frac_0.05"
    refused_params = REFUSED_FOR_SEISMIC
    refused_data = {"validation_fraction": "validation is an inline block (data.sections.validation)"}
    online_metrics = ()  # no cheap per-epoch readout besides the objective: heads are trained per evaluation

    def metric_applies(self, protocol: str, metric: str) -> bool:
        return protocol in self.protocols and (metric in self.metrics or metric.startswith("iou_"))

    def check_sweep(self, data, search, fixed) -> None:
        if not self.sources[data.downstream.source].labelled:
            raise ValueError(
                f"data.downstream {data.downstream.source} has no facies labels; it can only be pretext data "
                f"(downstream: {labelled_sources()})"
            )
        sizes = [fixed.get("input_size", SeismicAugmentationParams.model_fields["input_size"].default)]
        if "input_size" in search:
            sizes = search["input_size"].extremes()
        patch = data.sections.patch_size
        if max(sizes) > patch:
            raise ValueError(
                f"input_size {max(sizes)} is larger than data.sections.patch_size {patch}: views are "
                f"random crops of the training patches"
            )

    def describe_data(self, data: SeismicData) -> str:
        sections = data.sections
        return (
            f"patches {sections.patch_size} px, stride {sections.patch_stride}, {sections.orientation} sections; "
            f"inline blocks train {sections.train:g} / validation {sections.validation:g} / test {sections.test:g}, "
            f"gap {sections.gap}"
        )

    def check_data(self, data) -> None:
        from selfsup.data.dataset_specs import same_dataset

        downstream = data.downstream.model_dump(mode="json")
        volumes = load_labelled_volumes(downstream)
        sections = data.sections.model_dump()
        self._split(volumes, sections)  # a volume too small for the blocks fails here
        check_patches_fit(
            sections,
            labelled_training_sections(volumes["volume"].shape, sections, held_out_test="test" not in volumes),
            downstream,
            "downstream",
        )
        if not same_dataset(data.pretext, data.downstream):
            pretext = data.pretext.model_dump(mode="json")
            check_patches_fit(
                sections, pretext_training_sections(load_pretext_volume(pretext).shape, sections), pretext, "pretext"
            )

    def check_input_sizes(self, data, evaluation, objective, search, fixed, *, bundled_only: bool = False) -> None:
        """What needs no data files, so the dry run checks it too: the patches against the sections of a volume
        whose size its options give (``DataSource.shape``: the synthetic generator's), and a per-class objective (``iou_<class>``) against the
        facies the data has. ``check_data`` checks the patches of volumes read from files."""
        from selfsup.data.dataset_specs import describe, same_dataset
        from selfsup.data.errors import DataError
        from selfsup.evaluation.metric_names import PER_CLASS_IOU_PREFIX, parse_eval_metric_name
        from selfsup.evaluation.segmentation import metric_class_names

        sections = data.sections.model_dump()
        downstream = data.downstream.model_dump(mode="json")
        downstream_shape = self.sources[downstream["source"]].known_shape(downstream)
        if downstream_shape is not None:
            check_patches_fit(
                sections,
                labelled_training_sections(downstream_shape, sections, held_out_test=True),
                downstream,
                "downstream",
            )
        pretext = data.pretext.model_dump(mode="json")
        pretext_shape = self.sources[pretext["source"]].known_shape(pretext)
        if pretext_shape is not None and not same_dataset(data.pretext, data.downstream):
            check_patches_fit(sections, pretext_training_sections(pretext_shape, sections), pretext, "pretext")
        parsed = parse_eval_metric_name(objective)
        names = labelled_class_names(downstream)
        if parsed is not None and parsed.metric.startswith(PER_CLASS_IOU_PREFIX) and names is not None:
            known = metric_class_names(names)
            if parsed.metric.removeprefix(PER_CLASS_IOU_PREFIX) not in known:
                raise DataError(
                    f"objective.metric '{objective}' names class "
                    f"'{parsed.metric.removeprefix(PER_CLASS_IOU_PREFIX)}', which data "
                    f"{describe(downstream)} does not have; its classes: {', '.join(known)} "
                    f"(per-class metrics are {PER_CLASS_IOU_PREFIX}<class>)"
                )

    def data_arguments(self, data, seed: int, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "pretext": data.pretext.model_dump(mode="json"),
            "downstream": data.downstream.model_dump(mode="json"),
            "sections": data.sections.model_dump(mode="json"),
            "seed": seed,
        }

    @staticmethod
    def _split(volumes: dict, sections: dict, seed: int = 0) -> dict[str, np.ndarray]:
        from selfsup.data.seismic.inline_blocks import inline_block_split

        fractions = {"train": sections["train"], "validation": sections["validation"]}
        if "test" not in volumes:
            fractions["test"] = sections["test"]
        split = inline_block_split(volumes["volume"].shape[0], fractions, sections["gap"], seed)
        if "test" in volumes:
            split["test"] = np.arange(volumes["test"].shape[0])
        return split

    def split_record(self, data, seed: int) -> dict:
        """The inline blocks of each split, as recorded with the sweep in MLflow."""
        from selfsup.data.seismic.inline_blocks import describe_split

        volumes = load_labelled_volumes(data.downstream.model_dump(mode="json"))
        return {
            "inline_blocks": describe_split(self._split(volumes, data.sections.model_dump(), seed)),
            "gap": data.sections.gap,
            "test_volume": "f3 test1" if "test" in volumes else "held-out block",
        }

    def prepare_data(self, pretext: dict, downstream: dict, sections: dict, seed: int) -> PreparedData:
        from selfsup.data.dataset_specs import same_dataset
        from selfsup.data.prepared import PreparedData
        from selfsup.data.seismic.seismic_volume import patches
        from selfsup.data.seismic.seismic_volume import sections as cut_sections
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
            return (
                np.concatenate([p[0] for p in parts]),
                None if parts[0][1] is None else np.concatenate([p[1] for p in parts]),
            )

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
        return PreparedData(
            train=train,
            validation=evaluation["validation"],
            test=evaluation["test"],
            pretext=pretext_examples,
            n_channels=1,
            n_classes=len(volume.class_names),
            class_names=list(volume.class_names),
            train_series_labels=None,
            validation_series_labels=None,
            test_series_labels=None,
            input_mean=np.array([mean], dtype=np.float32),
            input_std=np.array([std], dtype=np.float32),
        )

    def build_augmenter(self, params: SeismicTrialParams, seed: int) -> SeismicAugmenter:
        return SeismicAugmenter(params, seed=seed)  # SeismicTrialParams is a SeismicAugmentationParams

    def example_prediction(self, backbone, data, evaluation, seed, device, objective) -> dict[str, np.ndarray]:
        """The first test section, its facies and the prediction of the report's head (the objective's
        segmentation protocol, else seg_frozen) trained on the largest label fraction evaluated."""
        from selfsup.evaluation.segmentation import example_prediction

        return example_prediction(backbone, data, evaluation, seed, device, objective, index=0)

    def evaluation_unit(self, evaluation) -> str:
        return "sections"

    def evaluate(
        self, backbone, data, evaluation, seed, device, *, include_test: bool, prefix: str = ""
    ) -> dict[str, float]:
        from selfsup.evaluation.segmentation import evaluate_segmentation

        return evaluate_segmentation(
            backbone,
            data,
            evaluation,
            seed,
            device,
            protocols=evaluation.protocols,
            fractions=evaluation.label_fractions,
            splits=["val", "test"] if include_test else ["val"],
            prefix=prefix,
            health=not prefix,
        )

    def validation_metrics(self, backbone, data, evaluation, seed, device, names: list[str]) -> dict[str, float]:
        from selfsup.evaluation.metric_names import parse_eval_metric_name
        from selfsup.evaluation.segmentation import evaluate_segmentation

        wanted = [parsed for parsed in map(parse_eval_metric_name, names) if parsed and parsed.split == "val"]
        # The health metrics ride on the first evaluation, which computes the validation feature maps anyway.
        results = evaluate_segmentation(
            backbone,
            data,
            evaluation,
            seed,
            device,
            protocols=[w.protocol for w in wanted[:1]],
            fractions=[w.fraction for w in wanted[:1]],
            splits=["val"],
            health=True,
        )
        for parsed in wanted[1:]:
            if parsed.name not in results:
                results.update(
                    evaluate_segmentation(
                        backbone,
                        data,
                        evaluation,
                        seed,
                        device,
                        protocols=[parsed.protocol],
                        fractions=[parsed.fraction],
                        splits=["val"],
                    )
                )
        return results
