"""CPC's InfoNCE over future latent steps (van den Oord, Li & Vinyals, "Representation Learning with
Contrastive Predictive Coding", arXiv:1807.03748, 2018, eq. (4); Haresamudram, Essa & Ploetz, "Contrastive
Predictive Coding for Human Activity Recognition", IMWUT 2021, code github.com/harkash/
contrastive-predictive-coding-for-har, ``model.py`` ``CPC.compute_cpc_loss``, itself based on
github.com/jefflai108/Contrastive-Predictive-Coding-PyTorch, ``src/model/model.py`` ``CDCK2.forward``)."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from selfsup.distributed import gather_batch_with_offset
from selfsup.mixed_precision import full_precision

SoftmaxOver = Literal["contexts", "futures"]


class CPCLoss(NamedTuple):
    loss: torch.Tensor  # scalar, differentiable
    accuracy: torch.Tensor  # scalar, detached: share of anchors whose positive has the largest logit


@full_precision
def cpc_info_nce(
    predictions: torch.Tensor,
    futures: torch.Tensor,
    softmax_over: SoftmaxOver = "contexts",
    gather_distributed: bool = True,
) -> CPCLoss:
    """InfoNCE of every future step ``k = 1..K`` with the other windows of the batch as negatives.

    ``predictions[k - 1, i] = W_k c_t^i`` (the step-``k`` predictor applied to window ``i``'s context at the
    anchor time ``t``) and ``futures[k - 1, i] = z_{t+k}^i`` (window ``i``'s encoding ``k`` steps later), both
    (K, n, D) for the n local windows. With ``s_k(i, j) = z_{t+k}^i . W_k c_t^j`` (the log density ratio
    ``log f_k`` of the paper, a plain dot product: no normalisation, no temperature)::

        softmax_over="contexts"  (the HAR CPC and jefflai108 code: LogSoftmax(dim=1) of z_{t+k} @ (W_k c_t)^T)
            loss = -1 / (K n) * sum_k sum_i  log( exp s_k(i, i) / sum_j exp s_k(i, j) )

        softmax_over="futures"   (the paper's eq. (4): one context against N candidate latents)
            loss = -1 / (K n) * sum_k sum_i  log( exp s_k(i, i) / sum_j exp s_k(j, i) )

    i.e. each future latent picks the context that predicted it among the batch's predictions at the same
    step ``k`` (code), or each prediction picks its own future among the batch's latents at step ``k``
    (paper); both are InfoNCE bounds on I(z_{t+k}; c_t), with the batch's other windows as negatives.

    With ``gather_distributed`` the candidates (``j``) are the windows of every DDP rank while the anchors
    (``i``) stay local: anchor ``i`` of this rank finds its positive at its global row (``offset + i``,
    :func:`selfsup.distributed.gather_batch_with_offset`). The mean of the rank losses is then the
    single-process loss on the concatenated batch, and DDP's average of the rank gradients its gradient
    (equal local batches; see :mod:`selfsup.distributed`).

    Returns the loss and how often an anchor's positive has its largest logit (the reference code's
    "accuracy", which takes its argmax over the futures, dim 0, whichever way the loss normalises).
    """
    if softmax_over not in ("contexts", "futures"):
        raise ValueError(f"cpc_info_nce softmax_over must be 'contexts' or 'futures', got {softmax_over!r}")
    if predictions.ndim != 3 or futures.ndim != 3:
        raise ValueError(
            f"cpc_info_nce expects (K steps, n windows, D) predictions and futures, got shapes "
            f"{tuple(predictions.shape)} and {tuple(futures.shape)}"
        )
    if predictions.shape != futures.shape:
        raise ValueError(
            f"cpc_info_nce expects predictions and futures of the same shape (K, n, D), got "
            f"{tuple(predictions.shape)} and {tuple(futures.shape)}"
        )
    steps, n, _ = predictions.shape
    if steps == 0 or n == 0:
        raise ValueError(f"cpc_info_nce needs at least one step and one window, got shape {tuple(predictions.shape)}")

    anchors, candidates = (futures, predictions) if softmax_over == "contexts" else (predictions, futures)
    if gather_distributed:
        # Gathered along the window axis: (K, n, D) -> (n, K, D) -> (N, K, D) -> (K, N, D).
        gathered, offset = gather_batch_with_offset(candidates.transpose(0, 1))
        candidates = gathered.transpose(0, 1)
    else:
        offset = 0
    n_global = candidates.shape[1]
    if n_global < 2:
        raise ValueError(
            f"cpc_info_nce needs a global batch of at least 2 windows (a positive and a negative "
            f"per anchor), got N_global={n_global}"
        )

    logits = torch.bmm(anchors, candidates.transpose(1, 2))  # (K, n, N): s_k(anchor, candidate)
    positive = torch.arange(n, device=logits.device) + offset  # each local window's global row
    loss = F.cross_entropy(logits.reshape(steps * n, n_global), positive.repeat(steps))
    accuracy = (logits.detach().argmax(dim=2) == positive).to(logits.dtype).mean()
    return CPCLoss(loss, accuracy)
