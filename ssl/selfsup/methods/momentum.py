"""Momentum (EMA) copies of a network, shared by BYOL's target and MoCo's key encoder.

The copy never receives gradients (``requires_grad=False``; DDP therefore ignores it) and is updated after
each optimiser step as ``target = tau * target + (1 - tau) * online``, parameters only: its BatchNorm
statistics are its own, from its own forward passes in train mode, as in the BYOL and MoCo code. It is a
submodule, so it is saved and restored with the method's ``state_dict``.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def cosine_momentum(base: float, progress: float) -> float:
    """BYOL's schedule: ``tau = 1 - (1 - base) * (cos(pi * progress) + 1) / 2``, ``base`` at the start and 1 at
    the end of training (``progress`` = steps done / total steps)."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * min(max(progress, 0.0), 1.0)) + 1.0) / 2.0


def frozen_copy(module: nn.Module) -> nn.Module:
    target = copy.deepcopy(module)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.mul_(tau).add_(o.detach(), alpha=1.0 - tau)
