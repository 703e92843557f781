"""What the library is told about a sweep: where its data comes from and how a backbone is evaluated.

The sweep side (``trainables.searchspace``) reads these from a search-space file's ``data`` and ``evaluation``
sections and hands them to the library as they are: a domain loads its data from a ``DataSpec`` and scores a
backbone as an ``EvaluationSpec`` says, and is told nothing else of the sweep.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from selfsup.evaluation.metric_names import ALL_PROTOCOLS
from selfsup.messages import first_message

if TYPE_CHECKING:
    from selfsup.domains import Domain


class StrictModel(BaseModel):
    """A settings model that refuses unknown keys and non-finite numbers."""

    # No float setting means anything at infinity or NaN (a bound of .inf, cpus_per_worker: .nan).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DatasetSpec(StrictModel):
    """Where a data set comes from: a data source of one of the domains (``selfsup.domains``), e.g. an aeon
    bundled set by name, UCR/UEA .ts files, sensor-log CSVs, scikit-learn's digits, CIFAR under a local root,
    an F3 facies directory or the synthetic seismic generator."""

    source: str = "aeon"
    name: str | None = None
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # e.g. the synthetic seismic generator's arguments

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        from selfsup.domains import domain_of_source

        domain_of_source(source)
        return source

    @model_validator(mode="after")
    def _complete(self) -> "DatasetSpec":
        needs = self.domain.sources[self.source]
        if needs.needs_name and not self.name:
            raise ValueError(f"source '{self.source}' needs a 'name'")
        if needs.needs_path and not self.path:
            raise ValueError(f"source '{self.source}' needs a 'path' ({needs.path_hint})")
        if self.path and not needs.needs_path:  # it would be ignored: e.g. aeon loads its bundled copy by name
            raise ValueError(f"source '{self.source}' takes no 'path' (got {self.path!r}); remove it")
        if self.options:
            if needs.options is None:
                raise ValueError(f"source '{self.source}' takes no 'options'")
            try:
                self.options = needs.options(**self.options).model_dump()
            except ValidationError as error:
                raise ValueError(f"options of source '{self.source}': {first_message(error)}") from None
        if needs.known_names is not None:
            known = needs.known_names()
            if self.name not in known:
                raise ValueError(f"{self.source} has no bundled data set '{self.name}'; bundled: {', '.join(known)}")
        return self

    @property
    def domain(self) -> Domain:
        from selfsup.domains import domain_of_source

        return domain_of_source(self.source)

    def label(self) -> str:
        return self.name or Path(self.path or "").name or self.source


class DataSpec(StrictModel):
    """A sweep's pretext data (what the method trains on, labels unread) and downstream data (what it is scored
    on), of one domain. Each domain extends it with its own options (``Domain.Data``: the windows of time series,
    the sections of seismic volumes); ``DomainData`` validates a search-space file's ``data`` with the extension
    of its domain, so the sweep's schema names none."""

    pretext: DatasetSpec
    downstream: DatasetSpec

    @model_validator(mode="after")
    def _one_domain(self) -> "DataSpec":
        pretext, downstream = self.pretext.domain, self.downstream.domain
        if pretext is not downstream:
            raise ValueError(
                f"pretext data {self.pretext.source} is {pretext.description} but downstream data "
                f"{self.downstream.source} is {downstream.description}; both must be one domain"
            )
        return self

    @property
    def domain(self) -> Domain:
        return self.downstream.domain


class CarvedValidation(StrictModel):
    """The option of domains whose validation units are carved from the training split (time series, images)."""

    validation_fraction: float = Field(
        0.2, gt=0, lt=1, description="carves validation units from the training split, stratified and seeded"
    )


def _domain_data(value: Any, handler: ValidatorFunctionWrapHandler) -> DataSpec:
    """``value`` validated by the data model of its domain (``Domain.Data``), picked by its downstream source. An
    option of another domain is refused naming both sides; a mapping whose domain cannot be told (no or an unknown
    source) is left to ``DataSpec``, which says what is wrong with it."""
    from selfsup.domains import DOMAINS, all_sources, domain_named

    if isinstance(value, DataSpec):
        if type(value) is value.domain.Data:
            return value
        value = value.model_dump()  # a plain DataSpec, or another domain's: validated as what its data is
    downstream = value.get("downstream") if isinstance(value, dict) else None
    source = (
        downstream.get("source", DatasetSpec.model_fields["source"].default) if isinstance(downstream, dict) else None
    )
    owner = all_sources().get(source) if isinstance(source, str) else None
    if owner is None:
        return handler(value)
    domain = domain_named(owner)
    for key in value:
        if key in domain.Data.model_fields:
            continue
        if key in domain.refused_data:
            raise ValueError(f"'{key}' does not apply to {domain.description}: {domain.refused_data[key]}; remove it")
        others = (domain_named(other).Data.model_fields.get(key) for other in DOMAINS if other != owner)
        field = next((field for field in others if field is not None and field.description), None)
        if field is not None:
            raise ValueError(f"'{key}' {field.description}, but data {source} is {domain.description}; remove it")
        raise ValueError(f"unknown key '{key}'; expected one of: {', '.join(domain.Data.model_fields)}")
    return domain.Data.model_validate(value)


#: A search-space file's ``data``: validated and dumped as its domain's ``Domain.Data``.
DomainData = Annotated[SerializeAsAny[DataSpec], WrapValidator(_domain_data)]


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
