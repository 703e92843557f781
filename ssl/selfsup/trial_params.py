"""The hyperparameters every trial has, whatever its data: optimiser, batch, backbone name, projector.

Each data domain (``selfsup.domains``) extends :class:`TrialParams` with its own input size and augmentation
strengths (``TimeSeriesTrialParams``, ``ImageTrialParams``, ``SeismicTrialParams``), and each method adds its
own ``Params``; ``split_trial_params`` splits a flat dict of hyperparameters between the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from selfsup.backbones import BACKBONES

if TYPE_CHECKING:
    from selfsup.methods import MethodParams


class TrialParams(BaseModel):
    """Hyperparameters every method shares on every domain. Each can be fixed or searched by its name."""

    # No hyperparameter means anything at infinity or NaN (fixed: {lr: .inf}, a choice of .nan).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    backbone: str = "conv1d"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    batch_size: int = Field(64, ge=2)
    projector_dim: int = Field(512, ge=1)
    projector_hidden_dim: int | None = Field(None, ge=1)
    projector_layers: int = Field(2, ge=1)

    _known_backbone = field_validator("backbone")(lambda name: BACKBONES.check(name))


# The shared projection head's hyperparameters (``SSLMethod.uses_projector``).
PROJECTOR_PARAMS = frozenset({"projector_dim", "projector_hidden_dim", "projector_layers"})


def split_trial_params(
    method: str, values: dict[str, Any], domain: str = "timeseries"
) -> tuple[TrialParams, MethodParams]:
    """Validate a flat hyperparameter dict into the shared ones (the ``domain``'s ``Params``: optimiser,
    backbone, input size, augmentations) and the method's own parameters."""
    from selfsup.domains import DOMAINS
    from selfsup.methods import METHODS

    method_params_cls = METHODS.get(method).Params
    shared_cls = DOMAINS.get(domain).Params
    method_keys = set(method_params_cls.model_fields)
    shared_keys = set(shared_cls.model_fields)
    unknown = sorted(set(values) - method_keys - shared_keys)
    if unknown:
        raise ValueError(
            f"unknown hyperparameter '{unknown[0]}' for method '{method}'; known: "
            f"{', '.join(sorted(method_keys | shared_keys))}"
        )
    shared = shared_cls(**{k: v for k, v in values.items() if k in shared_keys})
    own = method_params_cls(**{k: v for k, v in values.items() if k in method_keys})
    return shared, own
