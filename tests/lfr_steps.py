"""One LFR training step as ``selfsup.pretrain.train_one_epoch`` takes it, for the LFR tests on windows and on
seismic patches."""

from __future__ import annotations

import torch

from selfsup.methods import PretextBatch


def no_views(x, n):
    raise AssertionError("LFR reads the raw windows or patches, it draws no views")


def lfr_step(model, optimizer, x: torch.Tensor):
    """One step of ``selfsup.pretrain.train_one_epoch``."""
    output = model(PretextBatch(x, no_views))
    optimizer.zero_grad(set_to_none=True)
    output.loss.backward()
    optimizer.step()
    (model.module if hasattr(model, "module") else model).after_optimizer_step(0.0)
    return output
