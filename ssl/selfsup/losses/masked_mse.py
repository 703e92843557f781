"""Mean squared reconstruction error over masked time steps only (masked modelling of time series).

For inputs x and reconstructions x_hat of shape (B, C, T) and a mask M of shape (B, T) (True = hidden from
the encoder)::

    L = sum_{b, t: M[b, t]} sum_c (x_hat[b, c, t] - x[b, c, t])^2  /  (C * sum_{b, t} M[b, t])

Steps the encoder saw are not scored, as in masked-value prediction for multivariate time series (Zerveas et
al., "A Transformer-based Framework for Multivariate Time Series Representation Learning", KDD 2021,
github.com/gzerveas/mvts_transformer, ``MaskedMSELoss``) and masked autoencoders (He et al., CVPR 2022).

Under DDP the denominator is the masked count over every rank (span masks hide a different number of steps
in each batch), so each rank's loss is its share of the global mean and DDP's average of the gradients is
the gradient of the global mean (``selfsup.distributed``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from selfsup.distributed import world_size
from selfsup.mixed_precision import full_precision


@full_precision
def masked_mse(reconstruction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if reconstruction.shape != target.shape or reconstruction.dim() != 3:
        raise ValueError(
            f"reconstruction {tuple(reconstruction.shape)} and target {tuple(target.shape)} must be "
            f"the same (batch, channels, length) shape"
        )
    if mask.shape != (target.shape[0], target.shape[2]) or mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a (batch, length) = {(target.shape[0], target.shape[2])} bool tensor, got "
            f"{tuple(mask.shape)} {mask.dtype}"
        )
    squared = (reconstruction - target).pow(2).sum(dim=1)  # (B, T): summed over channels
    masked_sum = (squared * mask).sum()
    count = mask.sum().to(squared.dtype)
    world = world_size()
    if world > 1:
        count = count.detach().clone()
        dist.all_reduce(count)
        count = count / world  # this rank's share: DDP averages the gradients over the ranks
    if count == 0:
        raise ValueError("the mask hides no time step: nothing to reconstruct")
    return masked_sum / (count * target.shape[1])
