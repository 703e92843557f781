"""Masked reconstruction: hide 40-70 % of a window's time steps, reconstruct them from the backbone's per-step
features, score only the hidden steps (the gesture report's masked modelling).

    x_masked = x with the steps of M set to 0 (the channel mean: the data is standardised)
    x_hat    = decoder(upsample_T(backbone.forward_sequence(x_masked)))
    loss     = masked_mse(x_hat, x, M)                       (selfsup/losses/masked_mse.py)

Masks (``mask_mode``): ``random`` hides exactly round(mask_ratio x T) steps drawn uniformly in each window;
``span`` cuts the window into spans of ``span_length`` steps and hides round(mask_ratio x spans) of them, so
the encoder cannot fill a gap from its immediate neighbours (Zerveas et al., KDD 2021 mask contiguous
segments for the same reason; github.com/gzerveas/mvts_transformer, ``noise_mask``). Every channel of a
hidden step is hidden. The decoder is light on purpose (linear upsampling to T, then two pointwise
convolutions), so the representation, not the decoder, has to carry the signal; it is discarded after
pretraining like any projector. No augmentation: the input is the raw window.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from selfsup.backbones.base import SequenceBackbone
from selfsup.losses.masked_mse import masked_mse
from selfsup.methods.base import METHODS, MethodParams, PretextBatch, SSLMethod, StepOutput


class MaskedReconstructionParams(MethodParams):
    mask_ratio: float = Field(0.5, gt=0, lt=1)
    mask_mode: Literal["span", "random"] = "span"
    span_length: int = Field(5, ge=1)  # steps per hidden span (mask_mode: span)
    decoder_hidden_dim: int = Field(128, ge=1)


def time_step_mask(
    batch: int, length: int, ratio: float, mode: str, span_length: int, device: torch.device | None = None
) -> torch.Tensor:
    """(batch, length) bool mask, True = hidden; at least one step hidden and one visible per window.
    Draws from torch's global generator (seeded per epoch and rank by the training loop)."""
    if mode == "random":
        hidden = min(max(1, round(ratio * length)), length - 1)
        order = torch.rand(batch, length, device=device).argsort(dim=1)
        return torch.zeros(batch, length, dtype=torch.bool, device=device).scatter_(1, order[:, :hidden], True)
    if mode != "span":
        raise ValueError(f"unknown mask_mode '{mode}'; known: random, span")
    spans = math.ceil(length / span_length)
    hidden = min(max(1, round(ratio * spans)), spans - 1) if spans > 1 else 1
    order = torch.rand(batch, spans, device=device).argsort(dim=1)
    span_mask = torch.zeros(batch, spans, dtype=torch.bool, device=device).scatter_(1, order[:, :hidden], True)
    mask = span_mask.repeat_interleave(span_length, dim=1)[:, :length]
    if spans == 1:  # a window no longer than one span: hide all but its last step
        mask[:, -1] = False
    return mask


@METHODS.register("masked_reconstruction")
class MaskedReconstruction(SSLMethod[MaskedReconstructionParams]):
    Params = MaskedReconstructionParams
    uses_projector = False  # the decoder is its head
    domains = ("timeseries",)  # masks spans of time steps

    def __init__(self, backbone, projector, params: MaskedReconstructionParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        if data is None:
            raise ValueError("masked_reconstruction needs the data's channel count (DataShape) for its decoder")
        self.decoder = nn.Sequential(
            nn.Conv1d(backbone.output_dim, params.decoder_hidden_dim, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv1d(params.decoder_hidden_dim, data.n_channels, kernel_size=1),
        )

    def reconstruct(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        masked = x.masked_fill(mask.unsqueeze(1), 0.0)
        backbone = self.backbone
        if not isinstance(backbone, SequenceBackbone):
            raise AttributeError(
                f"masked_reconstruction decodes every time step: backbone {type(backbone).__name__} has no "
                "forward_sequence"
            )
        steps = backbone.forward_sequence(masked)  # (B, D, T'); T' = T / stride of the backbone
        if steps.shape[-1] != x.shape[-1]:
            steps = F.interpolate(steps, size=x.shape[-1], mode="linear", align_corners=False)
        return self.decoder(steps)

    def forward(self, batch: PretextBatch) -> StepOutput:
        x = batch.x
        p = self.params
        mask = time_step_mask(x.shape[0], x.shape[-1], p.mask_ratio, p.mask_mode, p.span_length, x.device)
        reconstruction = self.reconstruct(x, mask)
        return StepOutput(masked_mse(reconstruction, x, mask), {"masked_fraction": mask.float().mean().detach()})
