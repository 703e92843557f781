"""Temporal Neighborhood Coding (Tonekaboni, Eytan & Goldenberg, "Unsupervised Representation Learning for
Time Series with Temporal Neighborhood Coding", ICLR 2021; github.com/sanatonek/TNC_representation_learning,
``tnc/tnc.py``: ``TNCDataset``, ``Discriminator``, ``epoch_run``).

Windows close in time share the signal's underlying state; windows far apart may or may not. For each anchor
window W_t (centre t, length L = the trial's ``window_length``) of a series:

- its neighbourhood width comes from the augmented Dickey-Fuller test (statsmodels ``adfuller``, as in the
  original): for half-widths L, 2L, 3L around t, the channel-mean ADF p-value; epsilon is the first width (in
  windows) at which the segment stops looking stationary (p >= 0.01), else 3. delta = 5 epsilon L;
- ``mc_sample_size`` neighbours are windows centred at t + N(0, (epsilon L)^2) (clipped to the series);
- as many non-neighbours are drawn uniformly among the windows whose centre is at least delta from t. A
  series too short for that (sets of short series such as gestures) gives the windows in its farthest window
  length from t instead, never closer than half a window; a series shorter than two windows has none, and is
  refused with its name (``check_pretext_data``, run before the sweep starts);
- a discriminator D (Linear 2D->4D, ReLU, Dropout 0.5, Linear 4D->1; Xavier init) scores pairs of encodings,
  trained with the positive-unlabelled loss of ``selfsup/losses/tnc.py`` (weight ``w``, original default 0.05).

The anchors are the training windows themselves (every sliding window of every series, shuffled), where the
original draws one random centre per series per sample; neighbours and non-neighbours come from the anchor's
own series (``PretextBatch.windows``), so TNC works on long recordings (CSV logs) and on sets of short series
alike. The anchor is encoded once, where the original encodes ``mc_sample_size`` copies of it. The ADF
widths are cached per window (they depend on the series and the centre only). Randomness comes from torch's
global generator, which the training loop seeds per (seed, epoch, rank). No augmentation, as the original.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from pydantic import Field
from torch import nn

from selfsup.data.windows import Windows
from selfsup.losses.tnc import tnc_loss
from selfsup.methods.base import METHODS, MethodParams, PretextBatch, SSLMethod, StepOutput

ADF_STATIONARY_P = 0.01  # the original's threshold: p below it = stationary (unit root rejected)
ADF_FAILED_P = 0.6  # the original's value when the test cannot run on a segment


class TNCParams(MethodParams):
    w: float = Field(0.05, ge=0, le=1)  # positive-unlabelled weight of non-neighbours
    mc_sample_size: int = Field(10, ge=1)  # neighbours and non-neighbours per anchor
    adf: bool = True  # neighbourhood width by ADF test; else ``epsilon``
    epsilon: float = Field(3.0, gt=0)  # width in windows when ``adf`` is off (original default)


def adf_neighbourhood_width(series: np.ndarray, centre: int, window: int) -> int:
    """epsilon (in windows) for the anchor centred at ``centre`` of ``series`` (channels, T), as the original's
    ``TNCDataset._find_neighours`` computes it."""
    from statsmodels.tsa.stattools import adfuller

    length = series.shape[-1]
    p_values = []
    for half_width in range(window, 4 * window, window):
        segment = series[:, max(0, centre - half_width) : min(length, centre + half_width)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # statsmodels' FutureWarnings and short-sample warnings
                p = [adfuller(channel)[1] for channel in segment.astype(np.float64)]
            p_values.append(float(np.mean([ADF_STATIONARY_P if np.isnan(v) else v for v in p])))
        except (ValueError, np.linalg.LinAlgError):  # too short or constant: the original's fallback
            p_values.append(ADF_FAILED_P)
    non_stationary = [i for i, p in enumerate(p_values) if p >= ADF_STATIONARY_P]
    return non_stationary[0] + 1 if non_stationary else len(p_values)


def source_series(windows: Windows) -> tuple[list[np.ndarray], np.ndarray]:
    """``windows.series`` and ``windows.starts``, where the windows were cut; ValueError when they are unknown."""
    if windows.series is None or windows.starts is None:
        raise ValueError("tnc needs the series its windows were cut from (Windows.series and .starts)")
    return windows.series, windows.starts


def check_series_long_enough(windows: Windows, window: int, series_indices=None) -> None:
    """ValueError naming the first series (of those the windows came from) shorter than two windows."""
    series, _ = source_series(windows)
    indices = np.unique(windows.series_index) if series_indices is None else series_indices
    for index in indices:
        length = series[int(index)].shape[-1]
        if length < 2 * window:
            raise ValueError(
                f"tnc: series {int(index)} of {windows.name} has {length} steps, fewer than "
                f"2 x window_length = {2 * window}: none of its windows has a non-neighbour; "
                f"lower window_length to at most {length // 2} or leave the series out"
            )


def neighbour_starts(centre: int, epsilon: float, window: int, length: int, n: int) -> torch.Tensor:
    """Starts of ``n`` windows whose centres are drawn from N(centre, (epsilon window)^2), kept inside."""
    centres = (centre + torch.randn(n, dtype=torch.float64) * epsilon * window).long()
    return (centres - window // 2).clamp(0, length - window)


def non_neighbour_starts(centre: int, delta: float, window: int, length: int, n: int) -> torch.Tensor:
    """Starts of ``n`` windows drawn uniformly among those whose centre is at least ``delta`` from ``centre``
    (or, where the series is shorter, among those in its farthest window length, at least half a window away)."""
    starts = torch.arange(0, length - window + 1)
    distance = (starts + window // 2 - centre).abs()
    threshold = min(delta, max(window // 2, int(distance.max()) - window))
    far = starts[distance >= threshold]
    return far[torch.randint(len(far), (n,))]


class Discriminator(nn.Module):
    """The original's discriminator without its final sigmoid (the loss takes logits)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        first, last = nn.Linear(2 * dim, 4 * dim), nn.Linear(4 * dim, 1)
        self.model = nn.Sequential(first, nn.ReLU(inplace=True), nn.Dropout(0.5), last)
        nn.init.xavier_uniform_(first.weight)
        nn.init.xavier_uniform_(last.weight)

    def forward(self, z: torch.Tensor, z_other: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat([z, z_other], dim=-1)).view(-1)


@METHODS.register("tnc")
class TNC(SSLMethod[TNCParams]):
    Params = TNCParams
    uses_projector = False  # the discriminator is its head
    domains = ("timeseries",)  # neighbourhoods along time
    pretext_check_params = frozenset()  # the windows alone (their length against the series)

    def __init__(self, backbone, projector, params: TNCParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        self.discriminator = Discriminator(backbone.output_dim)
        self._width_cache: dict[int, float] = {}  # window index -> epsilon; recomputable, so not state

    @classmethod
    def check_pretext_data(cls, params: TNCParams, windows: Windows, shared) -> None:
        check_series_long_enough(windows, windows.x.shape[-1])

    def neighbourhood_width(self, windows: Windows, index: int) -> float:
        if not self.params.adf:
            return self.params.epsilon
        if index not in self._width_cache:
            window = windows.x.shape[-1]
            sources, starts = source_series(windows)
            series = sources[int(windows.series_index[index])]
            self._width_cache[index] = adf_neighbourhood_width(series, int(starts[index]) + window // 2, window)
        return self._width_cache[index]

    def draw_pairs(self, windows: Windows, index: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(B x mc_sample_size) neighbour and non-neighbour windows for the anchors ``windows[index]``."""
        window, n = windows.x.shape[-1], self.params.mc_sample_size
        check_series_long_enough(windows, window, np.unique(windows.series_index[index.cpu().numpy()]))
        sources, starts = source_series(windows)
        neighbours, distant = [], []
        for i in index.tolist():
            series = sources[int(windows.series_index[i])]
            centre, length = int(starts[i]) + window // 2, series.shape[-1]
            epsilon = self.neighbourhood_width(windows, i)
            for start in neighbour_starts(centre, epsilon, window, length, n).tolist():
                neighbours.append(series[:, start : start + window])
            for start in non_neighbour_starts(centre, 5 * epsilon * window, window, length, n).tolist():
                distant.append(series[:, start : start + window])
        return np.stack(neighbours), np.stack(distant)

    def forward(self, batch: PretextBatch) -> StepOutput:
        if batch.windows is None or batch.index is None:
            raise ValueError("tnc needs each batch's window indices and their series (PretextBatch.windows)")
        neighbours, distant = self.draw_pairs(batch.windows, batch.index)
        device = batch.x.device
        z_anchor = self.backbone(batch.x).repeat_interleave(self.params.mc_sample_size, dim=0)
        z_neighbour = self.backbone(torch.as_tensor(neighbours, device=device))
        z_distant = self.backbone(torch.as_tensor(distant, device=device))
        neighbour_logits = self.discriminator(z_anchor, z_neighbour)
        distant_logits = self.discriminator(z_anchor, z_distant)
        accuracy = ((neighbour_logits > 0).float().mean() + (distant_logits < 0).float().mean()) / 2
        return StepOutput(
            tnc_loss(neighbour_logits, distant_logits, self.params.w), {"discriminator_accuracy": accuracy.detach()}
        )
