"""W-MSE loss: a naive loop reference of the published formula, a transcription of the official
``WMSE.forward`` / ``Whitening2d``, whitening properties, singular covariances, gradients and input checks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from selfsup.failures import SingularCovarianceError
from selfsup.losses.wmse import WMSELoss, whiten

TOL = 1e-10


def _views(num_views: int, n: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    """Correlated, shifted views: a shared signal plus per-view noise, mixed by a random matrix."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64)
    base = torch.randn(n, d, generator=g, dtype=torch.float64)
    views = [(base + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)) @ mix + 3.0 for _ in range(num_views)]
    return [v.to(dtype) for v in views]


# ----------------------------------------------------------------------------- naive reference (loops only)


def naive_whiten_rows(rows: list[list[float]], eps: float) -> list[list[float]]:
    """Centre, covariance as an explicit double-loop sum / (n - 1), shrinkage, Cholesky-Banachiewicz and
    forward substitution L w = x_c for every row, all with scalar loops."""
    n, d = len(rows), len(rows[0])
    mean = [sum(rows[k][j] for k in range(n)) / n for j in range(d)]
    xc = [[rows[k][j] - mean[j] for j in range(d)] for k in range(n)]
    cov = [[0.0] * d for _ in range(d)]
    for a in range(d):
        for b in range(d):
            total = 0.0
            for k in range(n):
                total += xc[k][a] * xc[k][b]
            cov[a][b] = (1.0 - eps) * total / (n - 1) + (eps if a == b else 0.0)
    chol = [[0.0] * d for _ in range(d)]
    for i in range(d):
        for j in range(i + 1):
            s = sum(chol[i][m] * chol[j][m] for m in range(j))
            chol[i][j] = math.sqrt(cov[i][i] - s) if i == j else (cov[i][j] - s) / chol[j][j]
    out = []
    for k in range(n):
        w = [0.0] * d
        for i in range(d):
            w[i] = (xc[k][i] - sum(chol[i][m] * w[m] for m in range(i))) / chol[i][i]
        out.append(w)
    return out


def naive_wmse(views: list[torch.Tensor], w_size: int, w_iter: int, eps: float, seed: int) -> float:
    """Ermolov et al. 2021 with scalar loops; permutations drawn as WMSELoss does (one randperm(N) per
    iteration from a generator seeded with ``seed``, the last N mod w_size rows dropped)."""
    gen = torch.Generator().manual_seed(seed)
    data = [v.tolist() for v in views]
    num_views, n = len(data), len(data[0])
    loss = 0.0
    for _ in range(w_iter):
        perm = torch.randperm(n, generator=gen).tolist()
        kept = (n // w_size) * w_size
        white = [[None] * kept for _ in range(num_views)]
        for start in range(0, kept, w_size):
            idx = perm[start : start + w_size]
            for v in range(num_views):
                rows = naive_whiten_rows([data[v][r] for r in idx], eps)
                for pos, row in zip(range(start, start + w_size), rows):
                    white[v][pos] = row
        for i in range(num_views - 1):
            for j in range(i + 1, num_views):
                cos_sum = 0.0
                for a, b in zip(white[i], white[j]):
                    dot = sum(x * y for x, y in zip(a, b))
                    cos_sum += dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))
                loss += 2.0 - 2.0 * cos_sum / kept
    return loss / (w_iter * num_views * (num_views - 1) / 2)


@pytest.mark.parametrize("num_views", [2, 4])
@pytest.mark.parametrize(
    "w_size, w_iter, eps, n, d",
    [
        (6, 1, 0.0, 18, 4),  # N divisible by w_size: nothing dropped
        (8, 3, 0.0, 21, 3),  # 21 mod 8 = 5 rows dropped per iteration
        (21, 2, 0.0, 21, 5),  # one sub-batch = the whole batch
        (5, 2, 0.1, 17, 3),  # shrinkage
        (4, 1, 0.3, 12, 6),  # w_size <= D is fine with shrinkage
    ],
)
def test_matches_naive_reference(num_views, w_size, w_iter, eps, n, d):
    views = _views(num_views, n, d, seed=w_size + n)
    got = WMSELoss(w_size=w_size, w_iter=w_iter, eps=eps)(views, generator=torch.Generator().manual_seed(7))
    want = naive_wmse(views, w_size, w_iter, eps, seed=7)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(want, abs=TOL, rel=TOL)


# ----------------------------------------------------------------------------- official code, transcribed


def official_wmse(h_views: list[torch.Tensor], w_size: int, w_iter: int, w_eps: float) -> torch.Tensor:
    """htdt/self-supervised methods/w_mse.py WMSE.forward + methods/whitening.py Whitening2d (training mode,
    track_running_stats=False) + methods/norm_mse.py norm_mse_loss, on CPU, without the encoder and head."""

    def whitening2d(x):
        num_features = x.shape[1]
        x = x.unsqueeze(2).unsqueeze(3)
        m = x.mean(0).view(num_features, -1).mean(-1).view(1, -1, 1, 1)
        xn = x - m
        t = xn.permute(1, 0, 2, 3).contiguous().view(num_features, -1)
        f_cov = torch.mm(t, t.permute(1, 0)) / (t.shape[-1] - 1)
        eye = torch.eye(num_features).type(f_cov.type())
        f_cov_shrinked = (1 - w_eps) * f_cov + w_eps * eye
        inv_sqrt = torch.linalg.solve_triangular(torch.linalg.cholesky(f_cov_shrinked), eye, upper=False)
        inv_sqrt = inv_sqrt.contiguous().view(num_features, num_features, 1, 1)
        return F.conv2d(xn, inv_sqrt).squeeze(2).squeeze(2)

    def norm_mse_loss(x0, x1):
        x0, x1 = F.normalize(x0), F.normalize(x1)
        return 2 - 2 * (x0 * x1).sum(dim=-1).mean()

    bs, num = len(h_views[0]), len(h_views)
    h = torch.cat(h_views)
    loss = 0
    for _ in range(w_iter):
        z = torch.empty_like(h)
        perm = torch.randperm(bs).view(-1, w_size)
        for idx in perm:
            for i in range(num):
                z[idx + i * bs] = whitening2d(h[idx + i * bs])
        for i in range(num - 1):
            for j in range(i + 1, num):
                loss += norm_mse_loss(z[i * bs : (i + 1) * bs], z[j * bs : (j + 1) * bs])
    return loss / (w_iter * num * (num - 1) // 2)


@pytest.mark.parametrize("num_views, w_size, w_iter, w_eps", [(2, 8, 1, 0.0), (3, 12, 2, 0.0), (4, 6, 3, 0.05)])
def test_matches_official_code_with_global_rng(num_views, w_size, w_iter, w_eps):
    """generator=None draws the same CPU permutations as the official torch.randperm(bs)."""
    views = _views(num_views, 24, 5, seed=3)
    torch.manual_seed(123)
    want = official_wmse(views, w_size, w_iter, w_eps)
    torch.manual_seed(123)
    got = WMSELoss(w_size=w_size, w_iter=w_iter, eps=w_eps)(views)
    assert got.item() == pytest.approx(want.item(), abs=TOL, rel=TOL)


def test_official_defaults():
    loss = WMSELoss()
    assert (loss.w_size, loss.w_iter, loss.eps) == (128, 1, 0.0)
    assert repr(loss) == "WMSELoss(w_size=128, w_iter=1, eps=0.0)"
    views = _views(2, 256, 64, dtype=torch.float32)  # official emb 64, two sub-batches of 128
    value = loss(views, generator=torch.Generator().manual_seed(0))
    assert value.dtype == torch.float32 and torch.isfinite(value) and 0.0 < value.item() < 4.0


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_whiten_identity_covariance_zero_mean(dtype, tol):
    x = _views(1, 50, 6, seed=11, dtype=dtype)[0]
    out = whiten(x, 0.0)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.allclose(out.mean(dim=0), torch.zeros(6, dtype=dtype), atol=tol)
    cov = out.T @ out / (50 - 1)
    assert torch.allclose(cov, torch.eye(6, dtype=dtype), atol=tol)


def test_whiten_batched_equals_per_matrix():
    x = torch.stack(_views(3, 10, 4, seed=5))
    out = whiten(x, 0.2)
    for k in range(3):
        assert torch.allclose(out[k], whiten(x[k], 0.2), atol=TOL)


def test_whiten_half_precision_and_autocast_run_in_float32():
    x = _views(1, 40, 5, seed=2, dtype=torch.float32)[0]
    want = whiten(x, 0.0)
    assert whiten(x.to(torch.bfloat16), 0.0).dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = whiten(x, 0.0)
    assert got.dtype == torch.float32 and torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("num_views, w_iter", [(2, 1), (3, 4)])
def test_identical_views_give_zero_loss(num_views, w_iter):
    """Identical views whiten identically (same sub-batch rows), so every cosine is 1 and the loss is 0."""
    view = _views(1, 30, 4, seed=9)[0]
    loss = WMSELoss(w_size=10, w_iter=w_iter)(
        [view.clone() for _ in range(num_views)], generator=torch.Generator().manual_seed(0)
    )
    assert abs(loss.item()) < 1e-12


def test_generator_makes_it_reproducible():
    views = _views(2, 40, 3, seed=4)
    loss = WMSELoss(w_size=10)
    a = loss(views, generator=torch.Generator().manual_seed(1))
    b = loss(views, generator=torch.Generator().manual_seed(1))
    c = loss(views, generator=torch.Generator().manual_seed(2))
    assert a.item() == b.item() and a.item() != c.item()


# ----------------------------------------------------------------------------- singular covariances


@pytest.mark.parametrize("w_size, d", [(4, 4), (3, 8)])
def test_w_size_not_above_dimension_raises(w_size, d):
    views = _views(2, 16, d)
    with pytest.raises(ValueError, match=rf"w_size={w_size}.*D={d}"):
        WMSELoss(w_size=w_size)(views)
    with pytest.raises(ValueError, match="w_size"):
        whiten(views[0][:w_size], 0.0)


def _rank_deficient(num_views: int = 2) -> list[torch.Tensor]:
    views = _views(num_views, 24, 4, seed=8)
    for v in views:
        v[:, 2] = 0.0  # a dead (constant) dimension: the covariance has an exact zero row and column
    return views


def test_rank_deficient_input_raises_not_nan():
    # A training failure (it depends on what training made of the embeddings): the trial ends failed, unretried.
    with pytest.raises(SingularCovarianceError, match=r"singular.*w_eps"):
        WMSELoss(w_size=8)(_rank_deficient())
    with pytest.raises(ValueError, match=r"singular.*w_eps"):
        whiten(_rank_deficient()[0], 0.0)
    with pytest.raises(ValueError, match=r"singular.*w_eps"):
        whiten(_rank_deficient()[0].float(), 0.0)


def test_rank_deficient_input_with_shrinkage_is_finite():
    views = [v.requires_grad_() for v in _rank_deficient()]
    loss = WMSELoss(w_size=8, eps=0.01)(views, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(v.grad).all() for v in views)


def test_non_finite_input_raises():
    x = _views(1, 10, 3)[0]
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        whiten(x, 0.0)


# ----------------------------------------------------------------------------- gradients


def test_gradcheck():
    views = [v.requires_grad_() for v in _views(3, 10, 3, seed=6)]

    def fn(*vs):
        return WMSELoss(w_size=5, w_iter=2, eps=0.05)(list(vs), generator=torch.Generator().manual_seed(3))

    assert torch.autograd.gradcheck(fn, tuple(views))


def test_gradients_finite_and_dropped_rows_get_none():
    views = [v.requires_grad_() for v in _views(2, 300, 64, seed=1, dtype=torch.float32)]
    loss = WMSELoss()(views, generator=torch.Generator().manual_seed(0))  # 300 = 2 * 128 + 44 dropped
    loss.backward()
    for v in views:
        assert torch.isfinite(v.grad).all()
        zero_rows = (v.grad.abs().sum(dim=1) == 0).sum().item()
        assert zero_rows == 300 - 2 * 128


# ----------------------------------------------------------------------------- input checks


def test_bad_inputs_raise():
    a, b = _views(2, 16, 3)
    loss = WMSELoss(w_size=8)
    with pytest.raises(ValueError, match="at least 2"):
        loss([a])
    with pytest.raises(ValueError, match="at least 2"):
        loss(torch.stack([a, b]))
    with pytest.raises(ValueError, match="same shape"):
        loss([a, b[:12]])
    with pytest.raises(ValueError, match="same shape"):
        loss([a, b[:, :2]])
    with pytest.raises(ValueError, match="2-D"):
        loss([a[None], b[None]])
    with pytest.raises(ValueError, match=r"w_size=8.*N=6"):
        loss([a[:6], b[:6]])
    with pytest.raises(ValueError, match="2-D|rows"):
        whiten(a[0], 0.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"w_size": 1}, "w_size"), ({"w_iter": 0}, "w_iter"), ({"eps": -0.1}, "eps"), ({"eps": 1.5}, "eps")],
)
def test_bad_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WMSELoss(**kwargs)
