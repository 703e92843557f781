"""What the library is told about how a backbone is evaluated (``EvaluationSpec``), and the strict base of every
settings model; a sweep's data is described by ``selfsup.domains.base.DataSpec``, which each domain extends.

The sweep side (``trainables.searchspace``) reads a search-space file's ``evaluation`` section into an
``EvaluationSpec`` and hands it to the library as it is: a domain scores a backbone as it says, and is told
nothing else of the sweep but its data, seed and objective.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from selfsup.evaluation.metric_names import ALL_PROTOCOLS


class StrictModel(BaseModel):
    """A settings model that refuses unknown keys and non-finite numbers."""

    # No float setting means anything at infinity or NaN (a bound of .inf, cpus_per_worker: .nan).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class EvaluationSpec(StrictModel):
    # None: the domain's default protocols (linear, knn and mlp for time series; see selfsup.domains).
    protocols: list[str] | None = Field(None, min_length=1)
    # None: the domain's default ([1.0]; seismic: the reference report's 1, 5, 10, 25, 50, 100 %).
    label_fractions: list[float] | None = Field(None, min_length=1)
    # "series": window embeddings averaged per series, one prediction per series (as UCR/UEA scores are);
    # "window": every window is an example (sensor logs whose test set is a list of windows).
    unit: Literal["series", "window"] = "series"
    # Score the same backbone untrained beside the pretrained one: the gain is what pretraining adds.
    compare_random_init: bool = True
    knn_k: int = Field(20, ge=1)
    mlp_epochs: int = Field(200, ge=1)
    # cv/... objectives: stratified k-fold cross-validation over train + validation, repeated with new seeds.
    cv_folds: int = Field(5, ge=2)
    cv_repeats: int = Field(3, ge=1)
    # After the search: the best trial of each backbone trained supervised from scratch (same backbone,
    # optimiser, batch and augmentations) on each label fraction, scored with the same probes.
    supervised_baseline: bool = False
    # Test scores from readouts fitted on the training AND validation units (each label fraction drawn over
    # both) instead of the training units alone: once the sweep has selected (a cv/ objective already uses
    # both), every labelled series counts, as UCR/UEA figures use the whole training split. Validation scores
    # stay fitted on training units only; the supervised baseline trains on both. Classification, frozen-
    # feature protocols.
    refit_on_validation: bool = False
    # Segmentation (seismic): the head's training at each label fraction (selfsup.evaluation.segmentation).
    # The reference report trained its head with batch 8 and lr 0.007 (SGD); Adam at 1e-3 is the default here.
    segmentation_epochs: int = Field(30, ge=1)
    segmentation_lr: float = Field(1e-3, gt=0)
    segmentation_batch_size: int = Field(8, ge=1)
    # Width of the head's first transposed convolution (the report's 512; narrower heads train faster on CPU).
    segmentation_head_channels: int = Field(512, ge=1)
    # Fine-tuning (classification, protocol "finetune", opt-in; selfsup.evaluation.finetune): a copy of the
    # backbone and a linear head trained end to end at each label fraction, AdamW (weight decay 0: Adam) at
    # finetune_lr for the head and finetune_backbone_lr (None: the same) for the backbone, as seg_finetune
    # trains with Adam at 1e-3; SimCLR's fine-tuning (one learning rate for every weight) scaled down.
    finetune_epochs: int = Field(20, ge=1)
    finetune_lr: float = Field(1e-3, gt=0)
    finetune_backbone_lr: float | None = Field(None, gt=0)
    finetune_batch_size: int = Field(64, ge=1)
    finetune_weight_decay: float = Field(0.0, ge=0)

    @field_validator("protocols")
    @classmethod
    def _known_protocols(cls, protocols: list[str] | None) -> list[str] | None:
        for protocol in protocols or []:
            if protocol not in ALL_PROTOCOLS:
                raise ValueError(f"unknown evaluation protocol '{protocol}'; known: {', '.join(ALL_PROTOCOLS)}")
        return protocols

    @field_validator("label_fractions")
    @classmethod
    def _fractions_in_unit_interval(cls, fractions: list[float] | None) -> list[float] | None:
        if fractions is None:
            return None
        for fraction in fractions:
            if not 0 < fraction <= 1:
                raise ValueError(f"label fraction {fraction} is outside (0, 1]")
        return sorted(set(fractions))
