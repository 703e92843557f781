"""CPC (van den Oord et al. 2018; Haresamudram et al. 2021): the InfoNCE over future steps against a naive
scalar-loop reference and a transcription of the HAR code, the reference procedure (anchor time, context,
futures), both backbones, the latent-length check, training on toy data, the DDP meaning on two gloo ranks,
and a resumed trial equal to an uninterrupted one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributed as dist
from gloo_processes import run_on_gloo_ranks
from toy_data import sine_windows

from selfsup.backbones import build_backbone
from selfsup.evaluation.health import embedding_std
from selfsup.losses.cpc import cpc_info_nce
from selfsup.methods import METHODS, DataShape, PretextBatch, ProjectorSpec
from selfsup.methods.cpc import shared_anchor_time

TOL = 1e-10


def _no_views(x, n):
    raise AssertionError("CPC reads the raw windows; it must not draw augmented views")


def _cpc(backbone: str = "conv1d", channels: int = 3, length: int = 30, dtype=torch.float32, **params):
    torch.manual_seed(0)
    cls = METHODS.get("cpc")
    model = cls(
        build_backbone(backbone, channels), ProjectorSpec(16, 2), cls.Params(**params), DataShape(channels, length, 4)
    )
    return model.to(dtype)


# ------------------------------------------------------------------------------------------------ the loss


def naive_cpc(predictions: torch.Tensor, futures: torch.Tensor, softmax_over: str) -> tuple[float, float]:
    """Loops over step k, anchor i and candidate j, with s_k(i, j) = z_{t+k}^i . W_k c_t^j and the
    log-softmax written out: over the contexts j for each future i (the code), or over the futures j for
    each context i (the paper's eq. 4). Returns (loss, accuracy)."""
    p, z = predictions.tolist(), futures.tolist()
    steps, n = len(p), len(p[0])

    def s(k: int, i: int, j: int) -> float:
        return sum(a * b for a, b in zip(z[k][i], p[k][j]))

    total, correct = 0.0, 0
    for k in range(steps):
        for i in range(n):
            scores = [s(k, i, j) if softmax_over == "contexts" else s(k, j, i) for j in range(n)]
            top = max(scores)
            log_normaliser = top + math.log(sum(math.exp(v - top) for v in scores))
            total += -(scores[i] - log_normaliser)
            correct += int(max(range(n), key=lambda j: scores[j]) == i)
    return total / (steps * n), correct / (steps * n)


def har_code_nce(predictions: torch.Tensor, futures: torch.Tensor) -> torch.Tensor:
    """harkash/contrastive-predictive-coding-for-har, model.py ``compute_cpc_loss``, transcribed."""
    batch_size, steps = futures.shape[1], futures.shape[0]
    lsoftmax = torch.nn.LogSoftmax(dim=1)
    nce = 0
    for k in range(steps):
        log_density_ratio = torch.mm(futures[k], predictions[k].transpose(0, 1))
        nce = nce + torch.sum(torch.diag(lsoftmax(log_density_ratio)))
    return nce / (-1.0 * batch_size * steps)


def _pair(seed: int, steps: int, n: int, d: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    futures = torch.randn(steps, n, d, generator=generator, dtype=torch.float64)
    return futures + torch.randn(steps, n, d, generator=generator, dtype=torch.float64), futures


@pytest.mark.parametrize("softmax_over", ["contexts", "futures"])
@pytest.mark.parametrize("steps,n", [(1, 2), (3, 5), (6, 8), (12, 4)])
def test_loss_matches_naive_reference(steps, n, softmax_over):
    predictions, futures = _pair(steps * 10 + n, steps, n)
    loss, accuracy = cpc_info_nce(predictions, futures, softmax_over)
    expected_loss, expected_accuracy = naive_cpc(predictions, futures, softmax_over)
    assert loss.item() == pytest.approx(expected_loss, abs=TOL)
    assert accuracy.item() == pytest.approx(expected_accuracy, abs=TOL)
    assert not accuracy.requires_grad


def test_contexts_form_is_the_har_code_and_futures_form_its_transpose():
    predictions, futures = _pair(3, 4, 6)
    assert cpc_info_nce(predictions, futures, "contexts").loss.item() == pytest.approx(
        har_code_nce(predictions, futures).item(), abs=TOL
    )
    # Normalising over futures for each context is the code's form with the roles of the two swapped.
    assert cpc_info_nce(predictions, futures, "futures").loss.item() == pytest.approx(
        har_code_nce(futures, predictions).item(), abs=TOL
    )
    assert cpc_info_nce(predictions, futures, "contexts").loss.item() != pytest.approx(
        cpc_info_nce(predictions, futures, "futures").loss.item(), abs=1e-3
    )


def test_loss_sends_gradients_to_predictions_and_futures():
    predictions, futures = (t.requires_grad_(True) for t in _pair(0, 3, 4))
    cpc_info_nce(predictions, futures).loss.backward()
    assert predictions.grad.abs().sum() > 0 and futures.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "bad,message",
    [
        (lambda: cpc_info_nce(torch.randn(3, 4), torch.randn(3, 4)), r"\(K steps, n windows, D\)"),
        (lambda: cpc_info_nce(torch.randn(3, 4, 5), torch.randn(2, 4, 5)), "same shape"),
        (lambda: cpc_info_nce(torch.randn(3, 1, 5), torch.randn(3, 1, 5)), "at least 2 windows"),
        (lambda: cpc_info_nce(torch.randn(0, 4, 5), torch.randn(0, 4, 5)), "at least one step"),
        (lambda: cpc_info_nce(torch.randn(3, 4, 5), torch.randn(3, 4, 5), "samples"), "softmax_over"),
    ],
)
def test_bad_inputs_raise_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


# ------------------------------------------------------------------------------------------------ the method


def test_forward_follows_the_reference_procedure():
    """t ~ U{0..L-K-1} from the global generator; c_t = g_ar(z_0..z_t)[-1]; futures z_{t+1}..z_{t+K}."""
    model = _cpc(length=30, prediction_steps=5, dtype=torch.float64)
    model.eval()  # BatchNorm from running statistics, no dropout: both computations see the same numbers
    x = torch.randn(6, 3, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(7)
    output = model(PretextBatch(x, _no_views))
    z = model.backbone.forward_sequence(x).transpose(1, 2)
    assert z.shape[1] == 15  # conv1d halves time
    torch.manual_seed(7)
    t = int(torch.randint(15 - 5, (1,)))
    c_t = model.autoregressive(z[:, : t + 1])[0][:, -1]
    predictions = torch.stack([w(c_t) for w in model.predictors])
    futures = torch.stack([z[:, t + k] for k in range(1, 6)])
    expected = naive_cpc(predictions, futures, "contexts")
    assert output.loss.item() == pytest.approx(expected[0], abs=1e-9)
    assert output.terms["accuracy"].item() == pytest.approx(expected[1], abs=1e-12)


def test_anchor_time_covers_every_admissible_start():
    torch.manual_seed(0)
    draws = {shared_anchor_time(6, torch.device("cpu")) for _ in range(300)}
    assert draws == set(range(6))


def test_defaults_heads_and_state():
    model = _cpc(length=40)
    params = model.params
    assert (params.prediction_steps, params.ar_hidden, params.ar_layers, params.ar_dropout) == (12, 256, 2, 0.2)
    assert params.softmax_over == "contexts"
    gru = model.autoregressive
    assert (gru.input_size, gru.hidden_size, gru.num_layers, gru.dropout, gru.bidirectional) == (
        256,
        256,
        2,
        0.2,
        False,
    )
    assert len(model.predictors) == 12
    assert all((w.in_features, w.out_features) == (256, 256) for w in model.predictors)
    assert model.projector is None
    keys = set(model.state_dict())
    assert {"autoregressive.weight_hh_l1", "predictors.11.weight", "predictors.11.bias"} <= keys
    assert _cpc(length=40, ar_layers=1).autoregressive.dropout == 0.0  # no dropout after the only layer
    cls = METHODS.get("cpc")
    for bad in ({"prediction_steps": 0}, {"ar_dropout": 1.0}, {"ar_hidden": 0}, {"softmax_over": "x"}):
        with pytest.raises(ValueError):
            cls.Params(**bad)


def test_the_latent_length_probe_changes_no_state():
    """Measuring L runs the backbone once on zeros: BatchNorm statistics, the training mode and the random
    stream (hence every initial weight) stay as if it had not run."""
    probed = _cpc(length=30)
    torch.manual_seed(0)
    cls = METHODS.get("cpc")
    unprobed = cls(build_backbone("conv1d", 3), ProjectorSpec(16, 2), cls.Params())  # no DataShape, no probe
    assert probed.state_dict().keys() == unprobed.state_dict().keys()
    for name, tensor in probed.state_dict().items():
        assert torch.equal(tensor, unprobed.state_dict()[name]), name
    assert probed.backbone.training


@pytest.mark.parametrize("backbone", ["conv1d", "gru"])
def test_both_backbones_train_a_step(backbone):
    model = _cpc(backbone, channels=3, length=40)
    model.train()
    x = torch.randn(16, 3, 40, generator=torch.Generator().manual_seed(0))
    output = model(PretextBatch(x, _no_views))
    output.loss.backward()
    assert torch.isfinite(output.loss) and 0.0 <= output.terms["accuracy"].item() <= 1.0
    # Every parameter takes part in every step (DDP needs no find_unused_parameters). The W_k biases get
    # (numerically) zero gradients in the code's softmax over contexts: z . b is the same for every candidate.
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if name.startswith("predictors.") and name.endswith(".bias"):
            assert p.grad.abs().max() < 1e-4, name
        else:
            assert p.grad.abs().sum() > 0, name
    assert model.ddp_options() == {}


@pytest.mark.parametrize("backbone,length,latent", [("conv1d", 30, 15), ("conv1d", 29, 15), ("gru", 30, 30)])
def test_prediction_steps_must_fit_the_latent_length(backbone, length, latent):
    with pytest.raises(
        ValueError,
        match=rf"cpc prediction_steps {latent} does not fit windows of {length} steps"
        rf".*{latent} latent steps.*prediction_steps <= {latent - 1}",
    ):
        _cpc(backbone, length=length, prediction_steps=latent)
    model = _cpc(backbone, length=length, prediction_steps=latent - 1)  # t = 0 is then the only anchor
    model(PretextBatch(torch.randn(4, 3, length), _no_views)).loss.backward()


def test_prediction_steps_are_checked_per_step_without_a_data_shape():
    cls = METHODS.get("cpc")
    model = cls(build_backbone("conv1d", 3), ProjectorSpec(), cls.Params(prediction_steps=12))
    with pytest.raises(ValueError, match="cpc prediction_steps 12 does not fit windows of 20 steps"):
        model(PretextBatch(torch.randn(4, 3, 20), _no_views))


@pytest.mark.parametrize("backbone", ["conv1d", "gru"])
def test_a_few_steps_lower_the_loss_without_collapse(backbone):
    model = _cpc(backbone, length=40, prediction_steps=6, ar_hidden=64)  # narrow g_ar: GRU backward is slow on CPU
    x = torch.as_tensor(sine_windows(64))

    def loss_at_fixed_anchors() -> float:  # the same five anchor times (and dropout masks) before and after
        with torch.no_grad():
            values = []
            for seed in range(5):
                torch.manual_seed(1000 + seed)
                values.append(model(PretextBatch(x, _no_views)).loss.item())
        return sum(values) / len(values)

    model.train()
    before = loss_at_fixed_anchors()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    torch.manual_seed(0)
    for _ in range(30):
        output = model(PretextBatch(x, _no_views))
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
    after = loss_at_fixed_anchors()
    assert after < 0.7 * before, (before, after)
    model.eval()
    with torch.no_grad():
        assert embedding_std(model.backbone(x)) > 0.05


# ----------------------------------------------------------------------------------- two gloo processes

WORLD = 2
SEED = 100  # rank r draws its anchor time after torch.manual_seed(SEED + r), as the worker loop seeds per rank
# name: (backbone, method params, train mode). conv1d in eval mode: BatchNorm statistics are per rank under
# DDP (no SyncBatchNorm), so only running statistics make the two computations comparable; the gru backbone
# has no BatchNorm and runs in train mode, with g_ar's dropout switched off (its masks would differ).
DDP_CASES = {
    "conv1d_contexts": ("conv1d", {"prediction_steps": 4, "ar_hidden": 32}, False),
    "conv1d_futures": ("conv1d", {"prediction_steps": 4, "ar_hidden": 32, "softmax_over": "futures"}, False),
    "gru_train": ("gru", {"prediction_steps": 6, "ar_hidden": 32, "ar_dropout": 0.0}, True),
}
LENGTH = 24


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str, x_full: torch.Tensor) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        n = len(x_full) // world
        local = x_full[rank * n : (rank + 1) * n]
        results = {}
        torch.manual_seed(SEED + rank)
        results["anchor_times"] = [shared_anchor_time(1000, torch.device("cpu")) for _ in range(5)]
        for name, (backbone, params, train) in DDP_CASES.items():
            model = _cpc(backbone, channels=x_full.shape[1], length=LENGTH, dtype=torch.float64, **params)
            ddp = torch.nn.parallel.DistributedDataParallel(model, **model.ddp_options())
            ddp.train(train)
            torch.manual_seed(SEED + rank)
            output = ddp(PretextBatch(local, _no_views))
            output.loss.backward()  # DDP averages the gradients over the ranks
            results[name] = (
                output.loss.detach(),
                output.terms["accuracy"],
                {k: p.grad.clone() for k, p in model.named_parameters()},
            )
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_equals_one_process_on_the_concatenated_batch(tmp_path):
    x_full = torch.randn(8, 3, LENGTH, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    # Without the broadcast the ranks would anchor at different times (the test would then fail).
    draws = [
        torch.randint(high, (1,), generator=torch.Generator().manual_seed(SEED + r)).item()
        for high in (LENGTH // 2 - 4, LENGTH - 6)
        for r in range(WORLD)
    ]
    assert draws[0] != draws[1] and draws[2] != draws[3]

    run_on_gloo_ranks(_ddp_worker, (WORLD, str(tmp_path / "init"), str(tmp_path), x_full), world=WORLD, timeout_s=90.0)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    assert ranks[0]["anchor_times"] == ranks[1]["anchor_times"]

    for name, (backbone, params, train) in DDP_CASES.items():
        model = _cpc(backbone, channels=3, length=LENGTH, dtype=torch.float64, **params)
        model.train(train)
        torch.manual_seed(SEED)
        output = model(PretextBatch(x_full, _no_views))
        output.loss.backward()
        # The mean of the rank losses (what the worker loop reports) is the loss on the whole batch ...
        assert sum(r[name][0].item() for r in ranks) / WORLD == pytest.approx(output.loss.item(), abs=TOL), name
        assert sum(r[name][1].item() for r in ranks) / WORLD == pytest.approx(output.terms["accuracy"].item())
        # ... and DDP's averaged gradients, the same on both ranks, are its gradients.
        for key, p in model.named_parameters():
            for r in ranks:
                assert torch.allclose(r[name][2][key], p.grad, rtol=1e-7, atol=1e-10), (name, key)


def test_a_horizon_beyond_the_latent_sequence_is_refused_before_the_sweep():
    """``check_pretext_data`` (run by tune.py before Ray starts) measures the trial backbone's latent length."""
    from selfsup.data.windows import Windows
    from selfsup.trial_params import TrialParams

    cls = METHODS.get("cpc")
    windows = Windows(np.zeros((10, 3, 30), np.float32), None, np.arange(10))
    with pytest.raises(
        ValueError,
        match=r"cpc prediction_steps 15 does not fit windows of 30 steps: .* 15 latent "
        r"steps .* prediction_steps <= 14",
    ):
        cls.check_pretext_data(cls.Params(prediction_steps=15), windows, TrialParams(backbone="conv1d"))
    cls.check_pretext_data(cls.Params(prediction_steps=15), windows, TrialParams(backbone="gru"))  # 30 latents
    assert cls.constrains_data()
