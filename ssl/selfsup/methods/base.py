"""The one interface every method implements: a batch of windows -> loss (+ per-step hooks).

The worker loop hands every method the same thing each step, a :class:`PretextBatch` (the raw windows, a
way to draw augmented views of them, and labels for the methods that train on labels), and gets back a
:class:`StepOutput`. What a method does with the batch is its own business:

- joint-embedding methods (Barlow Twins, VICReg, SimCLR, W-MSE, triplet) draw ``n_views`` views, embed each
  with backbone + projector (:meth:`SSLMethod.embed_views`) and implement only :meth:`SSLMethod.loss`;
- methods with a predictor or a momentum target (BYOL, SimSiam, MoCo) override :meth:`SSLMethod.forward`;
- methods that read the raw sequence (CPC, TNC, masked reconstruction) override ``forward`` and ignore
  the views; the supervised baseline sets ``uses_labels`` and reads ``batch.labels``.

The shared base owns the backbone and the projector (solo-learn's ``BaseMethod`` idea). State a method adds
(target networks, queues) must be submodules or buffers, so it is part of ``state_dict()`` and therefore of
every checkpoint. Adding a method is one module in this package decorated with ``@METHODS.register("name")``
plus its import line in ``methods/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from selfsup.data.windows import Windows
from selfsup.heads import ProjectionHead
from selfsup.registry import Registry

METHODS: Registry = Registry("method")


class MethodParams(BaseModel):
    """Method-specific hyperparameters; subclasses add fields (all of them searchable by name)."""

    # No hyperparameter means anything at infinity or NaN (fixed: {lambda_offdiag: .inf}, a choice of .nan).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


@dataclass
class ProjectorSpec:
    output_dim: int = 512
    layers: int = 2
    hidden_dim: int | None = None


@dataclass(frozen=True)
class DataShape:
    """What a method may need to know about the data when it is built (e.g. the class count of the supervised
    baseline, the window length of a method that predicts along time)."""

    n_channels: int
    window_length: int  # time steps of a window (images and seismic: the width of the stored examples)
    n_classes: int
    height: int | None = None  # images and seismic: the height of the stored examples; None for time series


@dataclass
class PretextBatch:
    """One training step's input, the same for every method.

    ``x``: (B, C, T) windows on the training device (images and seismic patches: (B, C, H, W)).
    ``augment(x, n)`` returns ``n`` independently augmented views of any such tensor (the trial's augmentation
    pipeline and random stream, from its domain: views of images and seismic patches are ``input_size``
    crops, so they may be smaller than ``x``). ``labels``: (B,) class
    indices, only for methods with ``uses_labels`` (None otherwise). ``index``: (B,) positions of the windows
    in ``windows``, the method's whole training set, whose ``series`` and ``starts`` say where each window was
    cut (for methods that draw more windows around it, e.g. TNC's neighbours).
    """

    x: torch.Tensor
    augment: Callable[[torch.Tensor, int], list[torch.Tensor]]
    labels: torch.Tensor | None = None
    index: torch.Tensor | None = None
    windows: Windows | None = None

    def views(self, n: int) -> list[torch.Tensor]:
        return self.augment(self.x, n)


@dataclass
class StepOutput:
    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # logged as train/<term>


# How many training windows ``SSLMethod.initialise_from_data`` receives at most.
DATA_SAMPLE_SIZE = 1000


class SSLMethod(nn.Module):
    Params: ClassVar[type[MethodParams]] = MethodParams
    n_views: ClassVar[int] = 2
    # The data domains it can train on (``selfsup.domains``); methods that read time along the last axis
    # (CPC, TNC, masked reconstruction) are time-series only.
    domains: ClassVar[tuple[str, ...]] = ("timeseries", "images", "seismic")
    # Trains on labelled downstream windows (the supervised baseline) instead of the unlabelled pretext ones.
    uses_labels: ClassVar[bool] = False
    # Whether the shared projection head is built (CPC, TNC, LFR and masked reconstruction have heads of their
    # own; a projector nobody uses would only cost memory and break DDP, which expects every parameter used).
    uses_projector: ClassVar[bool] = True
    # Whether some steps leave parameters without gradients on purpose (e.g. LFR's predictor-only steps).
    # DDP must then look for unused parameters after each backward pass, which costs a graph traversal.
    skips_parameters_on_some_steps: ClassVar[bool] = False
    # The hyperparameters ``check_pretext_data`` reads (method or shared ones, e.g. batch_size), besides the
    # windows themselves: the searched ones are checked in every combination of their extremes, with every
    # searched input size (``selfsup.pretrain.check_method_fits_data``). None: it may read any of them.
    pretext_check_params: ClassVar[frozenset[str] | None] = None

    def __init__(
        self, backbone: nn.Module, projector: ProjectorSpec, params: MethodParams, data: DataShape | None = None
    ) -> None:
        super().__init__()
        self.data_shape = data
        self.backbone = backbone
        self.projector = (
            ProjectionHead(backbone.output_dim, projector.output_dim, projector.layers, projector.hidden_dim)
            if self.uses_projector
            else None
        )
        self.params = params

    def forward(self, batch: PretextBatch) -> StepOutput:
        return self.loss(self.embed_views(batch.views(self.n_views)))

    def embed_views(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """Backbone + projector of each view, one pass per view (BatchNorm statistics per view), as the
        official Barlow Twins, VICReg, BYOL and SimSiam code does."""
        if len(views) != self.n_views:
            raise ValueError(f"{type(self).__name__} expects {self.n_views} views, got {len(views)}")
        return [self.projector(self.backbone(view)) for view in views]

    def loss(self, embeddings: list[torch.Tensor]) -> StepOutput:
        raise NotImplementedError(f"{type(self).__name__} implements neither loss() nor forward()")

    def initialise_from_data(self, sample: torch.Tensor) -> None:
        """Hook run once after construction, before any checkpoint is restored and before DDP wraps the model,
        with ``sample``: up to ``DATA_SAMPLE_SIZE`` training windows (B, C, T) drawn with the trial's seed, the
        same on every rank (e.g. LFR picks diverse random projectors on it). The default does nothing."""

    def ddp_options(self) -> dict:
        """Keyword arguments for ``DistributedDataParallel`` when this method trains on several workers."""
        return {"find_unused_parameters": True} if self.skips_parameters_on_some_steps else {}

    def after_optimizer_step(self, progress: float) -> None:
        """Hook run after every optimiser step; ``progress`` in [0, 1] (e.g. an EMA momentum schedule)."""

    @classmethod
    def check_pretext_data(cls, params: MethodParams, windows: Windows, shared) -> None:
        """Raise ValueError when ``params`` (with the shared ``TrialParams`` ``shared``: batch size, backbone)
        cannot work on these training ``windows`` (e.g. a MoCo queue larger than the data set, a TNC window
        longer than half a series, a CPC horizon beyond the backbone's latent sequence). Called before a
        sweep starts, for every combination of the extremes of the searched input sizes and of the searched
        ``pretext_check_params`` it can draw; the default accepts anything."""

    @classmethod
    def constrains_data(cls) -> bool:
        """Whether ``check_pretext_data`` is overridden (then the data is prepared before the sweep to check)."""
        return cls.check_pretext_data.__func__ is not SSLMethod.check_pretext_data.__func__
