"""W-MSE loss (Ermolov, Siarohin, Sangineto & Sebe, "Whitening for Self-Supervised Representation Learning",
ICML 2021; github.com/htdt/self-supervised, methods/w_mse.py, methods/whitening.py, methods/norm_mse.py)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from selfsup.failures import SingularCovarianceError
from selfsup.mixed_precision import full_precision, no_autocast


def whiten(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Whitened rows of an (n, D) sub-batch, as ``Whitening2d`` of the official code in training mode::

        x_c   = x - mean_rows(x)
        C     = x_c^T x_c / (n - 1)                      unbiased covariance, (D, D)
        C_eps = (1 - eps) * C + eps * I                  shrinkage (the official ``w_eps``, 0 by default)
        L     = cholesky(C_eps)                          C_eps = L L^T, L lower triangular
        out   = x_c L^{-T}                               each row: out_n = L^{-1} x_c_n

    so that ``out`` has zero mean and, for ``eps = 0``, covariance ``L^{-1} C L^{-T} = I``. Leading batch
    dimensions are allowed, (..., n, D), each (n, D) matrix being whitened on its own.

    The official code forms ``L^{-1}`` explicitly (``solve_triangular(L, I)``) and applies it as a 1x1
    convolution; here ``x_c L^{-T}`` is one triangular solve (``torch.linalg.solve_triangular``), the same
    value up to rounding. Precision: the computation runs in the input dtype when it is float32 or float64
    (float32, as in the official code; it is fast on every GPU, and a covariance that float32 cannot factor
    is better handled with ``eps > 0`` than hidden by float64) and in float32 for float16 / bfloat16 inputs
    (Cholesky has no half-precision kernel); the output has that computation dtype. Autocast is switched off
    inside, so mixed-precision training does not demote the covariance to half precision.

    Raises:
        ValueError: for a non-2-D input, ``eps`` outside [0, 1], fewer than 2 rows, ``n <= D`` with ``eps = 0``
            (the covariance of n centred rows has rank at most n - 1 < D), or a covariance that Cholesky cannot
            factor (rank-deficient embeddings, e.g. a dead dimension, or non-finite values): never NaN. The last
            is a ``SingularCovarianceError`` (``selfsup.failures``): it depends on the embeddings training
            produced, so it ends a trial as failed where the others are configuration errors.
    """
    if x.ndim < 2:
        raise ValueError(
            f"whiten expects (n, D) rows (optionally with leading batch dimensions), got shape {tuple(x.shape)}"
        )
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"whiten: the shrinkage eps (w_eps) must lie in [0, 1], got {eps}")
    n, dim = x.shape[-2], x.shape[-1]
    if n < 2:
        raise ValueError(f"whiten needs at least 2 rows to estimate a covariance, got shape {tuple(x.shape)}")
    if n <= dim and eps == 0.0:
        raise ValueError(
            f"whiten: a sub-batch of w_size={n} rows in D={dim} dimensions has a singular covariance "
            f"(rank <= w_size - 1 < D); w_size must exceed the embedding dimension D, or use "
            f"shrinkage w_eps > 0"
        )

    dtype = torch.promote_types(x.dtype, torch.float32)
    with no_autocast(x.device.type):
        x = x.to(dtype)
        x_c = x - x.mean(dim=-2, keepdim=True)
        cov = x_c.mT @ x_c / (n - 1)
        if eps != 0.0:
            eye = torch.eye(dim, dtype=dtype, device=x.device)
            cov = (1.0 - eps) * cov + eps * eye
        try:
            chol = torch.linalg.cholesky(cov)
        except torch.linalg.LinAlgError as err:
            if not torch.isfinite(x).all():
                raise SingularCovarianceError(
                    "whiten: the sub-batch contains non-finite values (NaN or inf), so its "
                    "covariance cannot be whitened"
                ) from err
            raise SingularCovarianceError(
                f"whiten: the sub-batch covariance ({dim}x{dim}, from w_size={n} rows) is singular or "
                f"not positive definite in {dtype} (rank-deficient or collapsed embeddings, e.g. a "
                f"constant dimension), so it has no Cholesky factor; use the documented shrinkage "
                f"w_eps > 0 (WMSELoss(eps=...)), which makes it positive definite"
            ) from err
        # X L^T = x_c  <=>  X = x_c L^{-T}
        return torch.linalg.solve_triangular(chol.mT, x_c, upper=True, left=False)


class WMSELoss(nn.Module):
    """Whitening-MSE: the normalised MSE between views of embeddings whitened on random sub-batches.

    For V >= 2 views ``z_1 .. z_V``, each (N, D), following the official ``WMSE.forward``::

        for t in 1 .. w_iter:
            perm = randperm(N)[: K * w_size] split into K = N // w_size sub-batches S_1 .. S_K of w_size rows
            w_v[S_k] = whiten(z_v[S_k], eps)              each view and sub-batch on its own (see ``whiten``)
            L_t = sum_{i < j} (2 - 2 * mean_{n in S_1 u .. u S_K} cos(w_i[n], w_j[n]))
        loss = sum_t L_t / (w_iter * V (V - 1) / 2)

    ``2 - 2 cos`` is the squared distance of the L2-normalised whitened rows (the official ``norm_mse_loss``).
    All views of a sub-batch use the same rows, so positives stay aligned. Gradients flow through the
    whitening matrix (the covariance and its Cholesky factor), as in the official code.

    Differences from the official code: the permutations come from ``generator`` (the global RNG when None,
    which reproduces the official ``torch.randperm(bs)`` on CPU), and N need not be a multiple of ``w_size``:
    the official ``randperm(bs).view(-1, w_size)`` requires it, while here the ``N mod w_size`` rows left after
    the last full sub-batch of each permutation are dropped from that iteration's loss (a different random
    set each call, so every row is used in expectation; with N divisible by w_size nothing is dropped). The
    official ``--no_norm`` variant (plain MSE of the whitened rows) is not provided.

    No DDP gathering: as in the official code, each process whitens its local batch and the loss is local;
    averaging gradients over ranks optimises the mean of the rank losses.

    Args:
        w_size: rows per whitening sub-batch (128 in the official code); must exceed D unless ``eps > 0``.
        w_iter: number of independent random sub-batch partitions averaged (1 in the official code).
        eps: covariance shrinkage ``(1 - eps) * C + eps * I`` in [0, 1] (the official ``w_eps``, default 0).
    """

    def __init__(self, w_size: int = 128, w_iter: int = 1, eps: float = 0.0) -> None:
        super().__init__()
        if w_size < 2:
            raise ValueError(f"WMSELoss: w_size must be at least 2 to estimate a covariance, got {w_size}")
        if w_iter < 1:
            raise ValueError(f"WMSELoss: w_iter must be at least 1, got {w_iter}")
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"WMSELoss: the shrinkage eps (w_eps) must lie in [0, 1], got {eps}")
        self.w_size = w_size
        self.w_iter = w_iter
        self.eps = eps

    @full_precision
    def forward(self, views: Sequence[torch.Tensor], generator: torch.Generator | None = None) -> torch.Tensor:
        """Scalar loss for a list of V >= 2 (N, D) embedding batches of the same shape.

        ``generator`` draws the sub-batch permutations (on its own device; on the views' device when None,
        from the global RNG), so a seeded generator makes the loss reproducible.
        """
        name = type(self).__name__
        if isinstance(views, torch.Tensor) or len(views) < 2:
            got = f"a tensor of shape {tuple(views.shape)}" if isinstance(views, torch.Tensor) else f"{len(views)}"
            raise ValueError(f"{name} expects a list of at least 2 (N, D) embedding views, got {got}")
        shapes = [tuple(v.shape) for v in views]
        if any(v.ndim != 2 for v in views) or len(set(shapes)) != 1:
            raise ValueError(
                f"{name} expects all views to be 2-D (N, D) embeddings of the same shape, got shapes {shapes}"
            )
        n, dim = shapes[0]
        if n < self.w_size:
            raise ValueError(
                f"{name} needs at least w_size={self.w_size} rows per view for one whitening sub-batch, got N={n}"
            )
        if self.w_size <= dim and self.eps == 0.0:
            raise ValueError(
                f"{name}: w_size={self.w_size} must exceed the embedding dimension D={dim} (the "
                f"covariance of w_size centred rows has rank <= w_size - 1 and would be singular), "
                f"or use shrinkage eps (w_eps) > 0"
            )

        num_sub = n // self.w_size
        stacked = torch.stack(list(views))  # (V, N, D)
        perm_device = generator.device if generator is not None else stacked.device
        v_count = len(views)
        total = stacked.new_zeros((), dtype=torch.promote_types(stacked.dtype, torch.float32))
        for _ in range(self.w_iter):
            perm = torch.randperm(n, generator=generator, device=perm_device)[: num_sub * self.w_size]
            sub = stacked[:, perm.to(stacked.device).view(num_sub, self.w_size)]  # (V, K, w_size, D)
            white = F.normalize(whiten(sub, self.eps).reshape(v_count, num_sub * self.w_size, dim), dim=-1)
            for i in range(v_count - 1):
                for j in range(i + 1, v_count):
                    total = total + 2 - 2 * (white[i] * white[j]).sum(dim=-1).mean()
        return total / (self.w_iter * v_count * (v_count - 1) // 2)

    def extra_repr(self) -> str:
        return f"w_size={self.w_size}, w_iter={self.w_iter}, eps={self.eps}"
