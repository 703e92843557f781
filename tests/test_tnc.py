"""TNC: the positive-unlabelled discriminator loss against its formula, the ADF neighbourhood width, where
neighbours and non-neighbours are drawn, and the refusal of series too short for a neighbourhood."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selfsup.backbones import build_backbone
from selfsup.data.timeseries.series import SeriesSet
from selfsup.data.timeseries.sliding_windows import sliding_windows
from selfsup.losses.tnc import tnc_loss
from selfsup.methods import METHODS, PretextBatch, ProjectorSpec
from selfsup.methods.tnc import adf_neighbourhood_width, neighbour_starts, non_neighbour_starts
from selfsup.trial_params import TrialParams


def _naive_tnc_loss(neighbour_logits, distant_logits, w):
    """The original's form: sigmoid, then BCELoss means, one pair at a time."""

    def bce(logits, label):
        total = 0.0
        for logit in logits.tolist():
            p = 1 / (1 + math.exp(-logit))
            total += -(label * math.log(p) + (1 - label) * math.log(1 - p))
        return total / len(logits)

    return (bce(neighbour_logits, 1) + w * bce(distant_logits, 1) + (1 - w) * bce(distant_logits, 0)) / 2


@pytest.mark.parametrize("w", [0.0, 0.05, 0.3, 1.0])
@pytest.mark.parametrize("n,m", [(6, 6), (10, 4)])
def test_loss_matches_the_published_formula(w, n, m):
    generator = torch.Generator().manual_seed(n + m)
    neighbours = torch.randn(n, generator=generator, dtype=torch.float64) * 3
    distant = torch.randn(m, generator=generator, dtype=torch.float64) * 3
    assert tnc_loss(neighbours, distant, w).item() == pytest.approx(_naive_tnc_loss(neighbours, distant, w), abs=1e-10)


def test_loss_rejects_bad_shapes_and_weights():
    with pytest.raises(ValueError, match="1-D logits"):
        tnc_loss(torch.zeros(4, 1), torch.zeros(4), 0.1)
    with pytest.raises(ValueError, match=r"w must be in \[0, 1\], got 1.5"):
        tnc_loss(torch.zeros(4), torch.zeros(4), 1.5)


def test_adf_width_is_wide_for_stationary_noise_and_narrow_for_a_random_walk():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((2, 600))
    walk = rng.standard_normal((2, 600)).cumsum(axis=1)
    assert adf_neighbourhood_width(noise, 300, 50) == 3  # stationary at every width: the widest
    assert adf_neighbourhood_width(walk, 300, 50) == 1  # a unit root already at one window


def test_neighbours_follow_the_gaussian_and_non_neighbours_stay_far():
    torch.manual_seed(0)
    window, length, centre = 20, 1000, 500
    starts = neighbour_starts(centre, 2.0, window, length, 4000)
    centres = starts + window // 2
    assert centres.float().std().item() == pytest.approx(2.0 * window, rel=0.1)
    assert abs(centres.float().mean().item() - centre) < 3
    far = non_neighbour_starts(centre, 5 * 2.0 * window, window, length, 500)
    assert ((far + window // 2 - centre).abs() >= 200).all() and far.min() >= 0 and far.max() <= length - window
    # Both sides are used when both are far enough.
    assert (far < centre).any() and (far > centre).any()


def test_short_series_draw_the_farthest_windows_never_closer_than_half_a_window():
    torch.manual_seed(0)
    window, length = 20, 60
    for centre in range(10, 51):
        far = non_neighbour_starts(centre, 300.0, window, length, 50)
        distance = (far + window // 2 - centre).abs()
        farthest = max(centre - window // 2, length - window // 2 - centre)
        assert (distance >= max(window // 2, farthest - window)).all(), centre
        assert far.min() >= 0 and far.max() <= length - window


def _windows(lengths, window=20, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    series = [rng.standard_normal((channels, n)).astype(np.float32) for n in lengths]
    return sliding_windows(SeriesSet(series, None), window, 0.5, "toy train")


def test_a_series_too_short_for_a_neighbourhood_is_refused_by_name():
    cls = METHODS.get("tnc")
    windows = _windows([80, 39, 120])
    with pytest.raises(
        ValueError,
        match=r"^tnc: series 1 of toy train has 39 steps, fewer than 2 x window_length "
        r"= 40: .*lower window_length to at most 19",
    ):
        cls.check_pretext_data(cls.Params(), windows, TrialParams())
    cls.check_pretext_data(cls.Params(), _windows([80, 40, 120]), TrialParams())


def test_pairs_come_from_the_anchor_series():
    torch.manual_seed(0)
    windows = _windows([80, 100], window=20)
    # Mark every series by a constant offset so a window's source is visible in its values.
    windows.series = [s * 0 + 10 * (i + 1) for i, s in enumerate(windows.series)]
    cls = METHODS.get("tnc")
    model = cls(build_backbone("conv1d", 2), ProjectorSpec(), cls.Params(mc_sample_size=3, adf=False, epsilon=1.0))
    index = torch.arange(len(windows))
    neighbours, distant = model.draw_pairs(windows, index)
    assert neighbours.shape == distant.shape == (3 * len(windows), 2, 20)
    expected = np.repeat(10 * (windows.series_index + 1), 3)
    assert np.array_equal(neighbours[:, 0, 0], expected) and np.array_equal(distant[:, 0, 0], expected)


def test_a_few_steps_teach_the_discriminator_temporal_neighbourhoods():
    """Series that switch between two states (a slow and a fast sine) every 100 steps: after training, the
    discriminator tells neighbours from non-neighbours better than chance. (About half the non-neighbours share
    the anchor's state, so even a perfect encoder stays near 0.75.)"""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    t = np.arange(400)
    series = []
    for _ in range(12):
        state = (t // 100 + rng.integers(2)) % 2
        signal = np.where(state == 0, np.sin(2 * np.pi * t / 40), np.sin(2 * np.pi * t / 8))
        series.append((signal + 0.1 * rng.standard_normal(400))[None].astype(np.float32))
    windows = sliding_windows(SeriesSet(series, None), 20, 0.5, "states")
    cls = METHODS.get("tnc")
    model = cls(build_backbone("conv1d", 1), ProjectorSpec(), cls.Params(mc_sample_size=4, adf=False, epsilon=1.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    accuracies = []
    for step in range(40):
        index = torch.randperm(len(windows))[:32]
        output = model(
            PretextBatch(torch.as_tensor(windows.x[index.numpy()]), lambda x, n: [x] * n, index=index, windows=windows)
        )
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        accuracies.append(output.terms["discriminator_accuracy"].item())
    assert np.mean(accuracies[:3]) < 0.55 and np.mean(accuracies[-10:]) > 0.62, accuracies


def test_tune_refuses_windows_longer_than_half_a_recording_before_ray(tmp_path, capsys):
    """The searched window lengths are checked against every series before the sweep starts (exit 2)."""
    from pathlib import Path

    import ray
    import yaml

    import tune

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "searchspaces" / "tnc.yaml").read_text())
    raw["search"]["window_length"] = {"type": "categorical", "choices": [20, 60]}
    path = tmp_path / "tnc.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert tune.main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and not ray.is_initialized()
    assert err.startswith(
        f"error: {path}: the search can draw window_length=60: tnc: series 0 of aeon:BasicMotions "
        f"train has 100 steps, fewer than 2 x window_length = 120"
    )
