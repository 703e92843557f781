"""Pretraining and evaluation of one configuration, independent of Ray.

``trainables/trial/worker.py`` runs these inside Ray Train workers (DDP); tests and notebooks can run them
in-process. Nothing here knows about Tune, Optuna or MLflow.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from selfsup.backbones import build_backbone
from selfsup.config import SweepSpec, TrialParams
from selfsup.data.prepare import PreparedData, Windows
from selfsup.domains import DOMAINS
from selfsup.methods import METHODS, DataShape, MethodParams, PretextBatch, ProjectorSpec, SSLMethod
from selfsup.methods.base import DATA_SAMPLE_SIZE
from selfsup.mixed_precision import Precision, autocast


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the trial cannot continue."""


class CollapseError(RuntimeError):
    """The embeddings collapsed (every input maps to nearly the same vector)."""


def build_method(spec: SweepSpec, shared: TrialParams, own: MethodParams, data: DataShape) -> SSLMethod:
    backbone = build_backbone(shared.backbone, in_channels=data.n_channels)
    projector = ProjectorSpec(shared.projector_dim, shared.projector_layers, shared.projector_hidden_dim)
    return METHODS.get(spec.method)(backbone, projector, own, data)


def data_shape(data: PreparedData) -> DataShape:
    # The pretext windows: what a method's length-dependent parts (CPC's horizon, LFR's projectors) see. The
    # downstream windows may be longer (data.evaluation_window); the backbones pool over time.
    x = data.pretext.x  # windows (N, C, T), or images and seismic patches (N, C, H, W)
    return DataShape(
        n_channels=data.n_channels,
        window_length=x.shape[-1],
        n_classes=data.n_classes,
        height=x.shape[-2] if x.ndim == 4 else None,
    )


def data_sample(windows: np.ndarray, seed: int) -> torch.Tensor:
    """Up to ``DATA_SAMPLE_SIZE`` training windows drawn with ``seed`` (``SSLMethod.initialise_from_data``)."""
    chosen = torch.randperm(len(windows), generator=torch.Generator().manual_seed(seed))[:DATA_SAMPLE_SIZE]
    return torch.tensor(windows[chosen.sort().values.numpy()])


def training_windows(
    method: type[SSLMethod],
    own: MethodParams,
    data: PreparedData,
    unit: str,
    seed: int,
    refit_on_validation: bool = False,
) -> Windows:
    """What a method trains on: the unlabelled pretext windows, or for a method with ``uses_labels`` the
    labelled training windows of the ``label_fraction`` subset the probes use at that fraction (chosen per
    series, or per window with ``evaluation.unit: window``). With ``refit_on_validation`` the labelled units
    are the training and validation ones, as the test readouts' (``evaluation.refit_on_validation``)."""
    if not method.uses_labels:
        return dataclasses.replace(data.pretext, y=None)  # the method never sees pretext labels
    from selfsup.data.splits import label_fraction_indices
    from selfsup.data.windows import concatenated

    labelled, series_labels = data.train, data.train_series_labels
    if refit_on_validation:
        labelled = concatenated(data.train, data.validation, f"{data.train.name} + validation")
        series_labels = np.concatenate([data.train_series_labels, data.validation_series_labels])
    fraction = own.label_fraction
    if unit == "window":
        return labelled.subset(label_fraction_indices(labelled.y, [fraction], seed)[fraction])
    # The probes see series in pool_by_series order (sorted series index); pick the same series here.
    series = np.unique(labelled.series_index)
    chosen_series = series[label_fraction_indices(series_labels[series], [fraction], seed)[fraction]]
    return labelled.subset(np.isin(labelled.series_index, chosen_series))


def training_loader(windows: Windows, batch_size: int, world: int = 1) -> torch.utils.data.DataLoader:
    """Shuffled batches of (window, its index in ``windows``[, label]) for one of ``world`` workers; the index
    tells a method where the window came from (``PretextBatch.index``). The shuffling generator is seeded
    every epoch by the caller (``loader.generator.manual_seed``; a DistributedSampler's ``set_epoch``)."""
    per_worker = max(2, min(batch_size, len(windows) // world))
    # Copies: arrays from the object store are read-only, and the loader's tensors must own their memory.
    tensors = [torch.tensor(windows.x), torch.arange(len(windows))]
    if windows.y is not None:
        tensors.append(torch.tensor(windows.y))
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*tensors),
        batch_size=per_worker,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator(),
        pin_memory=torch.cuda.is_available(),
    )


#: The most combinations of searched extremes ``check_method_fits_data`` checks one by one. The product runs only
#: over the dimensions that can change the check (the method's ``pretext_check_params``, and those that change
#: the data, such as a searched window length), so real sweeps stay far below it (the shipped ones: at most 24).
MAX_CHECKED_COMBINATIONS = 4096


def drawable_extremes(dimension) -> list:
    """The extremes a searched dimension can draw: ``Dimension.extremes()`` (every choice, or low and high), with
    a stepped range's top lowered to its grid's top (Optuna draws 20-85 step 20 as 20, 40, 60 or 80)."""
    values = list(dimension.extremes())
    if dimension.type != "categorical" and dimension.step is not None:
        values = [values[0], dimension.grid_values()[-1]]
    return values


def _keys_that_matter(spec: SweepSpec, method: type[SSLMethod], extremes: dict[str, list], base: dict) -> list[str]:
    """The searched dimensions whose values can change ``method.check_pretext_data``'s verdict: those it reads
    (``SSLMethod.pretext_check_params``; every one when it declares none), those that change the prepared data
    (``Domain.data_arguments``: a searched window length), and the label fraction of a method trained on labels."""
    declared = method.pretext_check_params
    reference = spec.domain.data_arguments(spec.data, spec.seed, base)

    def changes_data(key: str) -> bool:
        return any(
            spec.domain.data_arguments(spec.data, spec.seed, {**base, key: value}) != reference
            for value in extremes[key]
        )

    return [
        key
        for key in spec.search
        if declared is None or key in declared or (method.uses_labels and key == "label_fraction") or changes_data(key)
    ]


def _one_line(error: Exception) -> str:
    from selfsup.config import first_message

    return " ".join(first_message(error).split())


def check_method_fits_data(spec: SweepSpec, prepared: Callable[[dict], PreparedData]) -> None:
    """ValueError when a configuration the sweep can draw cannot work on the data (before Ray starts).

    ``prepared(params)``: the sweep's data for a trial with hyperparameters ``params`` (a searched input
    size changes it; ``Domain.data_arguments``); the caller caches it per input size.

    Every combination of the searched dimensions' extremes is checked, not each dimension alone: a CPC horizon
    that fits the longest searched window can be drawn with the shortest one, a W-MSE whitening block that fits
    the largest batch with the smallest. The product runs over the dimensions that can change the verdict
    (``_keys_that_matter``), the others at their first extreme; the message names the combination. Should it
    exceed ``MAX_CHECKED_COMBINATIONS`` (a method that declares no ``pretext_check_params`` and a wide
    search), each dimension's extremes are checked with the others at their first extreme, with a warning.
    """
    import itertools
    import warnings

    from selfsup.config import split_trial_params

    method = METHODS.get(spec.method)
    extremes = {key: drawable_extremes(dim) for key, dim in spec.search.items()}
    base = {**spec.default_params(), **{key: values[0] for key, values in extremes.items()}}
    keys = _keys_that_matter(spec, method, extremes, base)
    count = math.prod(len(extremes[key]) for key in keys)
    if count <= MAX_CHECKED_COMBINATIONS:
        combinations = [dict(zip(keys, values)) for values in itertools.product(*(extremes[key] for key in keys))]
    else:
        warnings.warn(
            f"{count} combinations of the searched extremes of {', '.join(keys)} exceed "
            f"{MAX_CHECKED_COMBINATIONS}: method '{spec.method}' is checked against each dimension's "
            f"extremes alone",
            stacklevel=2,
        )
        combinations = [{}] + [{key: value} for key in keys for value in extremes[key]]
    for drawn in combinations:
        try:
            shared, own = split_trial_params(spec.method, {**base, **drawn}, spec.domain.name)
        except ValueError as error:  # a model validator across two searched fields
            raise ValueError(f"{_drawn_together(drawn)}{_one_line(error)}") from None
        windows = training_windows(
            method,
            own,
            prepared(shared.model_dump()),
            spec.evaluation.unit,
            spec.seed,
            spec.evaluation.refit_on_validation,
        )
        try:
            method.check_pretext_data(own, windows, shared)
        except ValueError as error:
            raise ValueError(f"{_drawn_together(drawn)}{_one_line(error)}") from None


def _drawn_together(drawn: dict) -> str:
    """How a refusal names the searched values that were drawn together ("" when nothing searched matters)."""
    if not drawn:
        return ""
    named = ", ".join(f"{key}={value}" for key, value in drawn.items())
    return f"the search can draw {named}{' together' if len(drawn) > 1 else ''}: "


def build_optimizer(params: TrialParams, model: nn.Module) -> torch.optim.Optimizer:
    if params.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=params.lr, momentum=0.9, weight_decay=params.weight_decay)
    optimizer_cls = torch.optim.AdamW if params.optimizer == "adamw" else torch.optim.Adam
    return optimizer_cls(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)


def build_augmenter(params: TrialParams, seed: int, domain: str = "timeseries"):
    """The trial's view generator for its data's domain: ``views(x, n)``, ``reseed(seed)``."""
    return DOMAINS.get(domain).build_augmenter(params, seed)


def to_channels_last(model: nn.Module) -> nn.Module:
    """``model`` with its 4-D parameters and buffers (convolution weights) in channels-last layout, in place.
    Convolutions then run in NHWC, which tensor-core kernels read without transposes; 1-D and 2-D tensors are
    unchanged, so time-series backbones are unaffected."""
    return model.to(memory_format=torch.channels_last)


def unwrap(model: nn.Module) -> nn.Module:
    """The method behind a DistributedDataParallel wrapper (hooks and state live there)."""
    return model.module if hasattr(model, "module") else model


def train_one_epoch(
    model: nn.Module,
    loader,
    windows: Windows,
    augmenter,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    epoch: int,
    epochs: int,
    precision: Precision = "fp32",
    channels_last: bool = False,
) -> dict[str, float]:
    """One pass over the training ``windows`` (``loader`` yields (x, index[, labels]) batches of them);
    returns the mean loss and loss terms over this rank's steps.

    ``precision``: the forward pass under bf16 autocast or in float32 (``selfsup.mixed_precision``).
    ``channels_last``: 4-D batches moved in channels-last layout (the model should be too; see
    ``to_channels_last``).
    """
    model.train()
    method = unwrap(model)
    sums: dict[str, float] = {}
    steps = 0
    steps_per_epoch = max(len(loader), 1)
    for step, tensors in enumerate(loader):
        x, index, *labels = (t.to(device, non_blocking=True) for t in tensors)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        # Augmentation runs on the device, inside the method, on what it chooses to augment.
        with autocast(device, precision):
            output = model(PretextBatch(x, augmenter.views, labels[0] if labels else None, index, windows))
        if not torch.isfinite(output.loss):
            raise NonFiniteLossError(f"loss became {output.loss.item()} at epoch {epoch + 1}, step {step + 1}")
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        optimizer.step()
        method.after_optimizer_step((epoch * steps_per_epoch + step + 1) / (epochs * steps_per_epoch))
        sums["train/loss"] = sums.get("train/loss", 0.0) + output.loss.detach().item()
        for name, value in output.terms.items():
            sums[f"train/{name}"] = sums.get(f"train/{name}", 0.0) + value.detach().item()
        steps += 1
    if steps == 0:
        raise ValueError("the pretext data gave no training batch; lower batch_size or the window length")
    return {name: total / steps for name, total in sums.items()}


def evaluate_backbone(
    backbone: nn.Module,
    data: PreparedData,
    spec: SweepSpec,
    device: torch.device,
    *,
    include_test: bool,
    prefix: str = "",
) -> dict[str, float]:
    """The domain's evaluation of a frozen backbone (readouts, or segmentation heads) at each label fraction,
    plus health (``Domain.evaluate``)."""
    return spec.domain.evaluate(backbone, data, spec, device, include_test=include_test, prefix=prefix)


def validation_metrics(
    backbone: nn.Module, data: PreparedData, spec: SweepSpec, device: torch.device, names: list[str]
) -> dict[str, float]:
    """The health metrics plus the named ``val/...`` and ``cv/...`` metrics only: the per-epoch evaluation.

    Each named metric is computed exactly as in ``evaluate_backbone`` (same subset, same probe), so a
    per-epoch objective means the same thing as the final one.
    """
    return spec.domain.validation_metrics(backbone, data, spec, device, names)


def check_health(metrics: dict[str, float], spec: SweepSpec, epoch: int) -> None:
    std = metrics.get("health/embedding_std")
    if std is None or epoch < spec.health.grace_epochs:
        return
    if not math.isfinite(std) or std < spec.health.collapse_std_floor:
        raise CollapseError(
            f"embeddings collapsed at epoch {epoch + 1}: health/embedding_std {std:.4g} "
            f"< collapse_std_floor {spec.health.collapse_std_floor}"
        )
