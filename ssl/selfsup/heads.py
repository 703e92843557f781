"""Projection heads: the MLPs that map backbone features to the space the SSL loss sees."""

from __future__ import annotations

from torch import nn


class ProjectionHead(nn.Sequential):
    """MLP projector: (Linear -> BatchNorm1d -> ReLU) x (layers - 1) -> Linear [-> BatchNorm1d].

    ``batch_norm=False`` gives MoCo v2's head (Linear -> ReLU -> Linear, with biases);
    ``output_batch_norm`` SimSiam's (a non-affine BatchNorm1d after the last Linear).

    Barlow Twins and VICReg use 3 layers of 8192 on ImageNet; the reference report used 256-1024 wide
    projectors on time series. ``hidden_dim`` defaults to ``output_dim`` as in those papers.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        layers: int = 2,
        hidden_dim: int | None = None,
        batch_norm: bool = True,
        output_batch_norm: bool = False,
    ) -> None:
        if layers < 1:
            raise ValueError(f"projector needs at least one layer, got {layers}")
        hidden_dim = hidden_dim or output_dim
        modules: list[nn.Module] = []
        width = input_dim
        for _ in range(layers - 1):
            modules.append(nn.Linear(width, hidden_dim, bias=not batch_norm))
            if batch_norm:
                modules.append(nn.BatchNorm1d(hidden_dim))
            modules.append(nn.ReLU(inplace=True))
            width = hidden_dim
        modules.append(nn.Linear(width, output_dim, bias=not batch_norm))
        if output_batch_norm:  # SimSiam's projector ends in BatchNorm1d without affine parameters
            modules.append(nn.BatchNorm1d(output_dim, affine=False))
        super().__init__(*modules)
        self.output_dim = output_dim
