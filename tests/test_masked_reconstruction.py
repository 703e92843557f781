"""Masked reconstruction: the masked MSE against a loop over hidden steps, the two mask modes, the global
mean under two ranks, and that training lowers the reconstruction error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gloo_processes import run_on_gloo_ranks

from selfsup.backbones import build_backbone
from selfsup.losses.masked_mse import masked_mse
from selfsup.methods import METHODS, DataShape, PretextBatch, ProjectorSpec
from selfsup.methods.masked_reconstruction import time_step_mask


def _naive_masked_mse(reconstruction, target, mask):
    total, count = 0.0, 0
    batch, channels, length = target.shape
    for b in range(batch):
        for t in range(length):
            if mask[b, t]:
                count += 1
                for c in range(channels):
                    total += (reconstruction[b, c, t].item() - target[b, c, t].item()) ** 2
    return total / (count * channels)


@pytest.mark.parametrize("ratio", [0.4, 0.55, 0.7])
@pytest.mark.parametrize("mode", ["random", "span"])
def test_loss_scores_only_the_hidden_steps(ratio, mode):
    torch.manual_seed(0)
    target, reconstruction = torch.randn(5, 3, 23, dtype=torch.float64), torch.randn(5, 3, 23, dtype=torch.float64)
    mask = time_step_mask(5, 23, ratio, mode, span_length=4)
    loss = masked_mse(reconstruction, target, mask)
    assert loss.item() == pytest.approx(_naive_masked_mse(reconstruction, target, mask), rel=1e-12)
    changed = reconstruction.clone()
    changed[~mask.unsqueeze(1).expand_as(changed)] += 100.0  # visible steps are not scored
    assert masked_mse(changed, target, mask).item() == pytest.approx(loss.item(), rel=1e-12)


def test_masks_hide_the_asked_share_in_the_asked_shape():
    torch.manual_seed(0)
    random = time_step_mask(200, 50, 0.6, "random", span_length=5)
    assert (random.sum(dim=1) == 30).all()
    span = time_step_mask(200, 50, 0.6, "span", span_length=5)
    assert (span.sum(dim=1) == 30).all()  # 10 spans, 6 hidden
    spans = span.view(200, 10, 5)
    assert (spans.all(dim=2) | ~spans.any(dim=2)).all()  # every span wholly hidden or wholly visible
    assert span.float().mean(dim=0).min() > 0.4  # every position gets hidden sometimes
    tiny = time_step_mask(4, 3, 0.7, "span", span_length=5)
    assert tiny.any(dim=1).all() and (~tiny).any(dim=1).all()
    with pytest.raises(ValueError, match="unknown mask_mode 'blocks'"):
        time_step_mask(2, 10, 0.5, "blocks", 3)


def test_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same .batch, channels, length. shape"):
        masked_mse(torch.zeros(2, 3, 5), torch.zeros(2, 3, 6), torch.ones(2, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask must be a \(batch, length\) = \(2, 5\) bool tensor"):
        masked_mse(torch.zeros(2, 3, 5), torch.zeros(2, 3, 5), torch.ones(2, 5))


def _rank_losses(rank, init_file, out_dir, target, reconstruction, mask):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        half = slice(0, 3) if rank == 0 else slice(3, 8)  # unequal halves, unequal hidden counts
        torch.save(masked_mse(reconstruction[half], target[half], mask[half]), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_share_the_global_masked_mean(tmp_path):
    """Each rank's loss is its share of the global mean: the ranks' losses average (as DDP averages their
    gradients) to the single-process loss on the whole batch, however many steps each rank hid."""
    torch.manual_seed(0)
    target, reconstruction = torch.randn(8, 2, 12, dtype=torch.float64), torch.randn(8, 2, 12, dtype=torch.float64)
    mask = torch.rand(8, 12) < 0.5
    run_on_gloo_ranks(_rank_losses, (str(tmp_path / "init"), str(tmp_path), target, reconstruction, mask))
    losses = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ((losses[0] + losses[1]) / 2).item() == pytest.approx(masked_mse(reconstruction, target, mask).item())


@pytest.mark.parametrize("backbone", ["conv1d", "gru"])
def test_training_lowers_the_reconstruction_error(backbone):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    t = np.arange(40)
    x = torch.as_tensor(
        np.sin(2 * np.pi * rng.integers(1, 4, (64, 1, 1)) * t / 40 + rng.uniform(0, 6, (64, 2, 1))), dtype=torch.float32
    )
    cls = METHODS.get("masked_reconstruction")
    model = cls(
        build_backbone(backbone, 2), ProjectorSpec(), cls.Params(mask_ratio=0.5, span_length=4), DataShape(2, 40, 3)
    )
    assert model.projector is None  # the decoder is its head
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        output = model(PretextBatch(x, lambda v, n: [v] * n))
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(output.loss.item())
    # The signal has variance 0.5: predicting the channel mean (0) scores about 0.5.
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses
