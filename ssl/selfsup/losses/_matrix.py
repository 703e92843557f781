"""Small matrix helpers shared by the losses: (N, D) shape checks and ``off_diagonal``."""

from __future__ import annotations

import torch


def off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """Flattened off-diagonal elements of a square (D, D) matrix, a (D * (D - 1),) tensor.

    The trick of the official Barlow Twins and VICReg code (github.com/facebookresearch/barlowtwins,
    github.com/facebookresearch/vicreg): dropping the last element of the flattened matrix and viewing the
    rest as (D - 1, D + 1) puts every diagonal element in column 0.
    """
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"off_diagonal expects a square 2-D matrix, got shape {tuple(matrix.shape)}")
    n = matrix.shape[0]
    return matrix.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def check_two_views(name: str, z_a: torch.Tensor, z_b: torch.Tensor) -> None:
    """Raise ValueError unless ``z_a`` and ``z_b`` are 2-D (N, D) tensors of the same shape."""
    if z_a.ndim != 2 or z_b.ndim != 2:
        raise ValueError(f"{name} expects 2-D (N, D) embeddings, got shapes {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    if z_a.shape != z_b.shape:
        raise ValueError(
            f"{name} expects both views to have the same shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )


def check_global_batch(name: str, n_global: int, local_shape: torch.Size) -> None:
    """Raise ValueError when the (gathered) batch has fewer than 2 samples: batch statistics are undefined."""
    if n_global < 2:
        raise ValueError(
            f"{name} needs a global batch of at least 2 samples to compute batch statistics, "
            f"got N_global={n_global} (local shape {tuple(local_shape)})"
        )
