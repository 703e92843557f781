"""The reference report's recurrent HAR encoder."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from selfsup.backbones.base import BACKBONES


@BACKBONES.register("gru")
class GRUEncoder(nn.Module):
    """Bidirectional GRU (100 hidden units per direction) whose last forward and backward states are
    concatenated and mapped by a linear layer to 256 features.

    ``forward_sequence`` keeps the time axis: (batch, 256, length), one vector per step.
    """

    domains: ClassVar[tuple[str, ...]] = ("timeseries",)

    def __init__(self, in_channels: int, hidden_size: int = 100, output_dim: int = 256) -> None:
        super().__init__()
        self.gru = nn.GRU(in_channels, hidden_size, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden_size, output_dim)
        self.output_dim = output_dim

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        steps, _ = self.gru(self._time_major(x))
        return self.out(steps).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, last = self.gru(self._time_major(x))  # last: (2 directions, batch, hidden)
        return self.out(torch.cat([last[0], last[1]], dim=-1))

    @staticmethod
    def _time_major(x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"gru expects (batch, channels, length), got shape {tuple(x.shape)}")
        return x.transpose(1, 2)
