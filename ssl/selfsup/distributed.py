"""Explicit helpers for losses whose statistics span the global batch (all DDP ranks), for ranks that must stop
together (``first_failure``) and for figures reported as the mean over the ranks (``mean_over_ranks``).

Barlow Twins and VICReg compute batch statistics (per-dimension mean/std, cross-correlation, covariance).
Under DistributedDataParallel each rank only sees its local slice of the batch, so those statistics must be
computed over the concatenation of every rank's embeddings. This module does it the way the official VICReg
code does (``FullGatherLayer`` in github.com/facebookresearch/vicreg, main.py; Bardes, Ponce & LeCun,
ICLR 2022): an all_gather in the forward pass and an all_reduce of the gradients in the backward pass.

Gradient convention
-------------------
Every rank computes the *same* global loss ``L`` from the gathered tensor. In the backward pass rank ``r``
receives ``dL/dZ`` for the whole gathered batch ``Z``; :class:`GatherLayer` sums these over the ranks
(all_reduce SUM) and keeps the rows that came from rank ``r``. Hence each rank's gradient w.r.t. its local
inputs is ``world_size x dL/dz_r`` -- ``world_size`` times the gradient of the global loss. DDP then
*averages* parameter gradients over the ranks (divides the sum by ``world_size``), so the parameter
gradients are exactly those of a single process running the same loss on the concatenated batch::

    (1 / W) * sum_r  (W * dL/dz_r) . dz_r/dtheta  =  sum_r dL/dz_r . dz_r/dtheta  =  dL/dtheta

A term computed on the *local* batch only (VICReg's invariance MSE, as in the official code) contributes
``d inv_r / dz_r`` to rank ``r``; with equal local batch sizes the DDP average of those local means is the
full-batch mean, so the same equivalence holds for the whole VICReg loss.

Gloo (CPU) and NCCL both work: only ``all_gather``, ``all_reduce`` and (for failures) ``all_gather_object`` are
used (gloo has no ``reduce_scatter``). Ranks may hold different batch sizes; :func:`gather_batch` pads to the largest one
before gathering and drops the padding afterwards.
"""

from __future__ import annotations

from typing import TypeVar

import torch
import torch.distributed as dist

_Failure = TypeVar("_Failure", bound=Exception)


def _initialised() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes in the default group; 1 when torch.distributed is not initialised."""
    return dist.get_world_size() if _initialised() else 1


def rank() -> int:
    """Rank of this process in the default group; 0 when torch.distributed is not initialised."""
    return dist.get_rank() if _initialised() else 0


class GatherLayer(torch.autograd.Function):
    """All-gather with gradients, as the official VICReg ``FullGatherLayer``.

    Forward: gathers ``x`` (same shape on every rank) from every rank and returns a tuple of
    ``world_size`` tensors, ordered by rank. Backward: all_reduces (SUM) the incoming gradients of all
    gathered pieces and returns the piece that belongs to this rank; see the module docstring for why this
    makes DDP's averaged parameter gradients equal to single-process gradients on the concatenated batch.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = x.contiguous()
        output = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(output, x)
        return tuple(output)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:
        all_gradients = torch.stack([g.contiguous() for g in grads])
        dist.all_reduce(all_gradients, op=dist.ReduceOp.SUM)
        return all_gradients[dist.get_rank()]


def gather_batch(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` over all ranks along dim 0 (rank order), differentiably.

    Identity when torch.distributed is not initialised or the world has one process. Local batch sizes may
    differ between ranks (all other dimensions must match): the sizes are exchanged first, ``x`` is
    zero-padded to the largest one, gathered with :class:`GatherLayer` and the padding is dropped again.
    Gradients follow the :class:`GatherLayer` convention (``world_size x`` the global-loss gradient).
    """
    return gather_batch_with_offset(x)[0]


def gather_batch_with_offset(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``gather_batch(x)`` and the row at which this rank's ``x`` starts in it.

    For losses that keep their anchors local and compare them with candidates from every rank (SimCLR's
    negatives, a triplet loss's negatives, MoCo's keys): anchor ``i`` of this rank is row ``offset + i`` of
    the gathered batch. Each rank then computes the mean over its own anchors; DDP's average of the rank
    gradients is the gradient of the mean over all anchors when local batches are equal, which
    ``DistributedSampler`` with ``drop_last`` guarantees (see the module docstring).
    """
    if world_size() == 1:
        return x, 0
    local_n = torch.tensor([x.shape[0]], dtype=torch.int64, device=x.device)
    gathered_sizes = [torch.zeros_like(local_n) for _ in range(world_size())]
    dist.all_gather(gathered_sizes, local_n)
    sizes = [int(s.item()) for s in gathered_sizes]
    offset = sum(sizes[: rank()])
    max_n = max(sizes)
    if all(n == max_n for n in sizes):
        return torch.cat(GatherLayer.apply(x), dim=0), offset
    padded = torch.cat([x, x.new_zeros((max_n - x.shape[0], *x.shape[1:]))], dim=0)
    pieces = GatherLayer.apply(padded)
    return torch.cat([piece[:n] for piece, n in zip(pieces, sizes)], dim=0), offset


def first_failure(failure: _Failure | None, device: torch.device) -> _Failure | None:
    """The failure of the lowest rank that had one, on every rank; None when no rank had one.

    A rank that stops on its own leaves the others waiting in their next collective (DDP's gradient all-reduce)
    for good, so ranks decide together: one all-reduce of a flag per call, and the failures themselves are
    exchanged only when there is one. Without torch.distributed (one process) ``failure`` itself.
    """
    if world_size() == 1:
        return failure
    failed = torch.tensor([int(failure is not None)], device=device)
    dist.all_reduce(failed, op=dist.ReduceOp.MAX)
    if not failed.item():
        return None
    failures: list[_Failure | None] = [None] * world_size()
    dist.all_gather_object(failures, failure)
    return next(f for f in failures if f is not None)


def mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Each value's mean over the ranks (one all-reduce for all of them), the same on every rank; ``values``
    itself without torch.distributed. Every rank must pass the same names."""
    if world_size() == 1:
        return values
    names = sorted(values)
    summed = torch.tensor([values[name] for name in names], dtype=torch.float64, device=device)
    dist.all_reduce(summed)
    return {name: float(total) / world_size() for name, total in zip(names, summed.tolist())}
