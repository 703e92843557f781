"""Pretraining and evaluation of one configuration, independent of Ray.

``trainables/trial/worker.py`` runs these inside Ray Train workers (DDP); tests and notebooks can run them
in-process. Nothing here knows about Tune, Optuna or MLflow.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from selfsup.backbones import build_backbone
from selfsup.data.prepared import PreparedData
from selfsup.data.windows import Windows
from selfsup.distributed import first_failure
from selfsup.domains import domain_named
from selfsup.failures import CollapseError, NonFiniteLossError, TrainingFailure
from selfsup.methods import METHODS, DataShape, MethodParams, PretextBatch, ProjectorSpec, SSLMethod
from selfsup.methods.base import DATA_SAMPLE_SIZE, LabelFractionParams
from selfsup.mixed_precision import Precision, autocast
from selfsup.trial_params import TrialParams


def build_method(method: str, shared: TrialParams, own: MethodParams, data: DataShape) -> SSLMethod:
    backbone = build_backbone(shared.backbone, in_channels=data.n_channels)
    projector = ProjectorSpec(shared.projector_dim, shared.projector_layers, shared.projector_hidden_dim)
    return METHODS.get(method)(backbone, projector, own, data)


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
    if not isinstance(own, LabelFractionParams):
        raise AttributeError(f"{method.__name__} trains on labels (uses_labels) but its params have no label_fraction")
    fraction = own.label_fraction
    if unit == "window":
        assert labelled.y is not None  # downstream windows are labelled
        return labelled.subset(label_fraction_indices(labelled.y, [fraction], seed)[fraction])
    assert series_labels is not None  # prepared data with series (time series; images: one per image) labels them
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


def build_optimizer(params: TrialParams, model: nn.Module) -> torch.optim.Optimizer:
    if params.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=params.lr, momentum=0.9, weight_decay=params.weight_decay)
    optimizer_cls = torch.optim.AdamW if params.optimizer == "adamw" else torch.optim.Adam
    return optimizer_cls(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)


def build_augmenter(params: TrialParams, seed: int, domain: str = "timeseries"):
    """The trial's view generator for its data's domain: ``views(x, n)``, ``reseed(seed)``."""
    return domain_named(domain).build_augmenter(params, seed)


def to_channels_last(model: nn.Module) -> nn.Module:
    """``model`` with its 4-D parameters and buffers (convolution weights) in channels-last layout, in place.
    Convolutions then run in NHWC, which tensor-core kernels read without transposes; 1-D and 2-D tensors are
    unchanged, so time-series backbones are unaffected."""
    return model.to(memory_format=torch.channels_last)


def unwrap(model: nn.Module) -> SSLMethod:
    """The method behind a DistributedDataParallel wrapper (hooks and state live there)."""
    method = model.module if hasattr(model, "module") else model
    if not isinstance(method, SSLMethod):
        raise TypeError(f"expected an SSLMethod or a DistributedDataParallel of one, got {type(method).__name__}")
    return method


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

    Raises a ``TrainingFailure`` (``selfsup.failures``) when a step's loss is not finite or the method cannot
    compute it (e.g. W-MSE's whitening of a singular covariance); under DDP every rank raises it at that step.
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
        failure: TrainingFailure | None = None
        try:
            # Augmentation runs on the device, inside the method, on what it chooses to augment.
            with autocast(device, precision):
                output = model(PretextBatch(x, augmenter.views, labels[0] if labels else None, index, windows))
            if not torch.isfinite(output.loss):
                failure = NonFiniteLossError(f"loss became {output.loss.item()} at epoch {epoch + 1}, step {step + 1}")
        except TrainingFailure as error:
            failure = error
        # Before the backward pass, whose gradient all-reduce would wait forever for a rank that stopped.
        failure = first_failure(failure, device)
        if failure is not None:
            raise failure
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


def check_health(metrics: dict[str, float], epoch: int, *, collapse_std_floor: float, grace_epochs: int) -> None:
    """``CollapseError`` when, after ``grace_epochs``, the normalised embedding spread fell below
    ``collapse_std_floor`` (1 = spread like an isotropic Gaussian, 0 = every input on one vector)."""
    std = metrics.get("health/embedding_std")
    if std is None or epoch < grace_epochs:
        return
    if not math.isfinite(std) or std < collapse_std_floor:
        raise CollapseError(
            f"embeddings collapsed at epoch {epoch + 1}: health/embedding_std {std:.4g} "
            f"< collapse_std_floor {collapse_std_floor}"
        )
