"""The hyperparameters every trial has, whatever its data: optimiser, batch, backbone name, projector.

Each data domain (``selfsup.domains``) extends :class:`TrialParams` with its own input size and augmentation
strengths (``TimeSeriesTrialParams``, ``ImageTrialParams``, ``SeismicTrialParams``), and each method adds its
own ``Params``; the sweep side (``trainables.searchspace.split_trial_params``) splits a flat dict of
hyperparameters between the two.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from selfsup.backbones import BACKBONES


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
