"""Mixed precision: the one convention every training step and loss follows.

``resources.precision: bf16`` runs each training step's forward pass (backbone, projector, predictor) under
``torch.autocast(device_type, dtype=torch.bfloat16)``: matrix products and convolutions run in bfloat16,
where tensor cores give about twice float32's throughput on Ampere and later GPUs (and on CPUs with AMX);
weights, gradients and optimiser state stay float32. bfloat16 keeps float32's exponent range, so no loss
scaling (``GradScaler``) is needed, unlike float16.

Losses are computed in float32 (:func:`full_precision`): their statistics (cross-correlation and covariance
matrices, similarity logits over a batch, softmax over thousands of negatives, Cholesky whitening) lose too
much in bfloat16's 8-bit mantissa; a (D, D) cross-correlation summed over a batch of 256 in bfloat16 is off
by about 1 %. The official Barlow Twins and VICReg code run their whole step under float16 autocast; the
float32 loss here costs little, because the loss is a small part of a step's work.

Evaluation (embedding for the probes, segmentation heads) runs in float32: it is a small part of a trial,
and it keeps a trial's metrics comparable across precisions.

``precision: fp32`` (the default) runs everything in float32. bf16 works on the CPU too (autocast's CPU
path), but is only faster there on CPUs with bfloat16 matrix units.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Literal, TypeVar

import torch

Precision = Literal["fp32", "bf16"]
_LOW_PRECISION = (torch.float16, torch.bfloat16)

F = TypeVar("F", bound=Callable[..., Any])


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    """The training step's autocast region on ``device`` for ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def check_precision_supported(device: torch.device, precision: Precision) -> None:
    """RuntimeError when ``device`` cannot run ``precision`` (bf16 on a CUDA GPU older than Ampere)."""
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        name = torch.cuda.get_device_name(device)
        raise RuntimeError(
            f"resources.precision bf16 needs a GPU with bfloat16 support (Ampere or later), but "
            f"{device} is a {name}; use precision fp32"
        )


def no_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast switched off for ``device_type`` where it is on; a no-op otherwise."""
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


def _to_float32(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in _LOW_PRECISION else value
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(item) for item in value)
    return value


def _device_type(args: tuple, kwargs: dict) -> str | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value.device.type
        if isinstance(value, (list, tuple)):
            found = _device_type(tuple(value), {})
            if found is not None:
                return found
    return None


def full_precision(function: F) -> F:
    """Run a loss in float32 whatever autocast region it is called from: autocast is switched off for its
    tensors' device and float16 / bfloat16 tensor arguments (also inside lists and tuples) become float32.
    Gradients flow back through the casts to the low-precision activations. Works on functions and on
    ``forward`` methods (``self`` is passed through)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        device_type = _device_type(args, kwargs)
        if device_type is None:
            return function(*args, **kwargs)
        with no_autocast(device_type):
            return function(*_to_float32(args), **{name: _to_float32(value) for name, value in kwargs.items()})

    return wrapper  # type: ignore[return-value]
