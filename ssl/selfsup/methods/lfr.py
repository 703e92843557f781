"""LFR, Learning from Randomness (Sui, Wu, Cresswell, Wu, Leung, Zhang, Volkovs & Caterini, "Self-supervised
Representation Learning from Random Data Projectors", ICLR 2024; github.com/layer6ai-labs/lfr: ``ssl_models/
lfr.py`` ``LFR``, ``ssl_models/models/model_helper.py`` ``build_target`` / ``build_predictor``,
``ssl_models/models/targets.py`` ``HARCnnTarget``, ``ssl_models/models/encoders.py`` ``Simple4LayerMLP``,
``utils/trainers.py`` ``train_loop_lfr`` / ``bt_loss_bs``, ``utils/utils.py`` ``init_optimizer_lfr``,
``utils/dpp.py``, ``main.py`` ``train_ssl``, ``scripts/har/run_har_lfr.sh``).

No augmentations and no second view: K frozen, randomly initialised networks g_k ("random data projectors",
the code's ``target_encoders``) map each raw window to a target, and the encoder f learns features from which
one trainable predictor h_k per projector can predict that target::

    loss = (1 / K) sum_k  L(h_k(f(x)), g_k(x))          x: the raw windows (B, C, T), g_k never trained

with L the "barlow-batch" loss (:func:`selfsup.losses.lfr.batch_barlow_loss`, the HAR script's
``--loss barlow-batch``; ``lambda_offdiag`` = the code's ``--lambd`` default 0.01) or ``-cos(p, z)``
(``loss_type="cosine"``, the code's default ``--loss``).

The reference alternates encoder and predictor training; here the alternation runs per optimiser step
(``predictor_steps``), the projectors are a 4-layer MLP on windows by default (``target_arch="cnn"`` is the
code's HAR target), K of a larger pool can be kept by greedy DPP selection (``pool_ratio``), and on seismic
patches projectors and predictors are dense convolutional maps (the reference report's design). Every
choice, deviation and its cost: docs/methods.md, "LFR: porting notes".
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.func import functional_call

from selfsup.backbones.base import FeatureMapBackbone
from selfsup.losses.lfr import batch_barlow_loss, dpp_greedy, projector_similarity_kernel
from selfsup.losses.negative_cosine import negative_cosine
from selfsup.methods.base import METHODS, DataShape, MethodParams, PretextBatch, SSLMethod, StepOutput

TARGET_HIDDEN_DIM = 256  # the hidden width of the code's Simple4LayerMLP and of HARCnnTarget's first Linear
# Windows the DPP kernel is computed on: the reference uses one training batch (128 in its HAR script). The
# cost grows as pool x windows^2 x D; 256 of the (up to 1000) sample windows, evenly spaced, take about a
# second on one CPU core for a pool of 60.
DPP_WINDOWS = 256
# Seismic patches the DPP kernel is computed on: each pool projector costs its forward pass on them and one
# (n, D h w) x (D h w, n) product, n = 32 patches of 64 x 100 x 50 floats (module docstring).
DPP_PATCHES = 32
SEISMIC_TARGET_DIM = 64  # D of the dense target maps when target_dim is None (module docstring)
SEISMIC_TARGET_MAP = (100, 50)  # the reference report's resize of targets and predictions (height, width)
CONV_PROJECTOR_WIDTHS = (16, 32)  # RandomConvProjector's hidden channels (HARCnnTarget's widths)


class LFRParams(MethodParams):
    num_projectors: int = Field(6, ge=1)  # K (--num_targets; HAR script 6)
    pool_ratio: int = Field(10, ge=1)  # draw K x this many, keep K by DPP (--target_sample_ratio)
    # Windows: 4-layer MLP (reference report) or the code's HAR CNN; seismic patches: the report's 3 convs.
    # None: "mlp" on windows, "conv" on patches.
    target_arch: Literal["mlp", "cnn", "conv"] | None = None
    # D of targets and predictions; None: the backbone's width on windows, SEISMIC_TARGET_DIM on patches
    target_dim: int | None = Field(None, ge=1)
    # Seismic patches only: the size dense targets and predictions are resized to; None: the report's 100 x 50
    target_map_height: int | None = Field(None, ge=1)
    target_map_width: int | None = Field(None, ge=1)
    predictor_layers: int = Field(1, ge=1, le=3)  # --pred_layers (HAR script 1: one Linear)
    predictor_hidden_dim: int = Field(256, ge=1)  # --pred_dim (HAR script 256), for 2 or 3 layers
    loss_type: Literal["barlow_batch", "cosine"] = "barlow_batch"  # --loss (HAR script barlow-batch)
    lambda_offdiag: float = Field(0.01, ge=0)  # --lambd, barlow_batch's off-diagonal weight
    predictor_steps: int = Field(5, ge=0)  # predictor-only steps per encoder step (--pred_epochs)


class RandomMLPProjector(nn.Sequential):
    """The LFR code's ``Simple4LayerMLP`` on the flattened window: C T -> 256 -> 256 -> 256 -> D, ReLU."""

    def __init__(self, data: DataShape, output_dim: int, hidden_dim: int = TARGET_HIDDEN_DIM) -> None:
        width = data.n_channels * data.window_length
        super().__init__(
            nn.Flatten(),
            nn.Linear(width, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, output_dim),
        )


class RandomCNNProjector(nn.Module):
    """The LFR code's ``HARCnnTarget`` for any channel count and window length (the code fixes 9 x 128)."""

    def __init__(self, data: DataShape, output_dim: int, hidden_dim: int = TARGET_HIDDEN_DIM) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(data.n_channels, 16, kernel_size=8, stride=1, padding=4, bias=False),
            nn.ReLU(),
            nn.MaxPool1d(kernel_size=2, stride=2, padding=1),
            nn.Conv1d(16, 32, kernel_size=8, stride=1, padding=4, bias=False),
            nn.ReLU(),
            nn.MaxPool1d(kernel_size=2, stride=2, padding=1),
        )
        length = data.window_length
        for _ in range(2):  # conv (k 8, pad 4): T + 1 steps; max-pool (k 2, s 2, pad 1): L // 2 + 1
            length = (length + 1) // 2 + 1
        self.mlp = nn.Sequential(nn.Linear(32 * length, hidden_dim), nn.Linear(hidden_dim, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.conv(x).flatten(1))


class RandomConvProjector(nn.Module):
    """The reference report's seismic projector: Conv2d(C, 16), ReLU, Conv2d(16, 32), ReLU, Conv2d(32, D), each
    kernel 5, stride 2, padding 2, then a bilinear resize to ``map_size`` (height, width): (B, C, H, W) ->
    (B, D, *map_size) for any H, W."""

    def __init__(
        self,
        data: DataShape,
        output_dim: int,
        map_size: tuple[int, int] = SEISMIC_TARGET_MAP,
        widths: tuple[int, int] = CONV_PROJECTOR_WIDTHS,
    ) -> None:
        super().__init__()
        self.map_size = tuple(map_size)
        first, second = widths
        self.conv = nn.Sequential(
            nn.Conv2d(data.n_channels, first, kernel_size=5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(first, second, kernel_size=5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(second, output_dim, kernel_size=5, stride=2, padding=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.conv(x), size=self.map_size, mode="bilinear", align_corners=False)


class DensePredictor(nn.Module):
    """A predictor on the backbone's feature map (B, F, H/s, W/s): 1x1 convolutions as ``build_predictor``'s
    Linear layers (one with bias, or (conv without bias, BatchNorm2d, ReLU) x (layers - 1) then one with
    bias), then the bilinear resize to ``map_size``: (B, D, *map_size)."""

    def __init__(
        self,
        input_channels: int,
        output_dim: int,
        layers: int,
        hidden_dim: int,
        map_size: tuple[int, int] = SEISMIC_TARGET_MAP,
    ) -> None:
        super().__init__()
        self.map_size = tuple(map_size)
        modules: list[nn.Module] = []
        width = input_channels
        for _ in range(layers - 1):
            modules += [
                nn.Conv2d(width, hidden_dim, kernel_size=1, bias=False),
                nn.BatchNorm2d(hidden_dim),
                nn.ReLU(inplace=True),
            ]
            width = hidden_dim
        modules.append(nn.Conv2d(width, output_dim, kernel_size=1))
        self.head = nn.Sequential(*modules)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.head(features), size=self.map_size, mode="bilinear", align_corners=False)


@torch.no_grad()
def dense_similarity_kernel(pool: list[nn.Module], sample: torch.Tensor) -> torch.Tensor:
    """:func:`selfsup.losses.lfr.projector_similarity_kernel` of the pool's outputs on ``sample``, one
    projector at a time: each projector's outputs flattened per example and L2-normalised (n, D h w), their
    (n, n) cosine matrix S_a; K_ab = <S_a, S_b>_F / (|S_a|_F |S_b|_F) in float64, diagonal exactly 1. Holds
    one projector's outputs and M (n, n) matrices instead of all M x n x D h w outputs."""
    grams = []
    for network in pool:
        r = F.normalize(network(sample).flatten(1).float(), dim=1)
        grams.append((r @ r.T).double().reshape(-1))
    flat = torch.stack(grams)
    gram = flat @ flat.T
    norms = gram.diagonal().sqrt().clamp_min(1e-12)
    kernel = gram / norms[:, None] / norms[None, :]
    kernel.fill_diagonal_(1.0)
    return kernel


def build_predictor(input_dim: int, output_dim: int, layers: int, hidden_dim: int) -> nn.Module:
    """The LFR code's ``build_predictor``: one Linear with bias, or (Linear without bias, BatchNorm1d, ReLU)
    x (layers - 1) then a Linear with bias."""
    if layers == 1:
        return nn.Linear(input_dim, output_dim)
    modules: list[nn.Module] = []
    width = input_dim
    for _ in range(layers - 1):
        modules += [nn.Linear(width, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
        width = hidden_dim
    modules.append(nn.Linear(width, output_dim))
    return nn.Sequential(*modules)


@METHODS.register("lfr")
class LFR(SSLMethod[LFRParams]):
    Params = LFRParams
    uses_projector = False  # the random projectors and the predictors are its heads
    # Windows (B, C, T): vector targets; seismic patches (B, C, H, W): dense target maps (module docstring).
    domains = ("timeseries", "seismic")
    skips_parameters_on_some_steps = True  # encoder steps leave the predictors out, predictor steps f
    pretext_check_params = frozenset({"target_arch", "target_map_height", "target_map_width"})
    selected: torch.Tensor  # buffers (registered in __init__)
    steps_done: torch.Tensor

    def __init__(self, backbone, projector, params: LFRParams, data: DataShape | None = None) -> None:
        super().__init__(backbone, projector, params, data)
        if data is None:
            raise ValueError(
                "lfr builds its random projectors for the windows' channels and length: it needs the DataShape"
            )
        # Patches (a DataShape with a height: seismic) get dense projectors and predictors, windows vector ones.
        height = data.height
        self.dense = height is not None
        example = (
            (data.n_channels, height, data.window_length)
            if height is not None
            else (data.n_channels, data.window_length)
        )
        arch = self.check_target_arch(params, example)
        pool: list[nn.Module]
        predictors: list[nn.Module]
        if self.dense:
            if not isinstance(backbone, FeatureMapBackbone):
                raise ValueError(
                    f"lfr on seismic patches predicts dense maps from the backbone's feature map, "
                    f"but backbone {type(backbone).__name__} has no forward_features and feature_channels"
                )
            dim = params.target_dim or SEISMIC_TARGET_DIM
            size = (params.target_map_height or SEISMIC_TARGET_MAP[0], params.target_map_width or SEISMIC_TARGET_MAP[1])
            pool = [RandomConvProjector(data, dim, size) for _ in range(params.num_projectors * params.pool_ratio)]
            predictors = [
                DensePredictor(
                    backbone.feature_channels, dim, params.predictor_layers, params.predictor_hidden_dim, size
                )
                for _ in range(params.num_projectors)
            ]
        else:
            dim = params.target_dim or backbone.output_dim
            build = RandomMLPProjector if arch == "mlp" else RandomCNNProjector
            pool = [build(data, dim) for _ in range(params.num_projectors * params.pool_ratio)]
            predictors = [
                build_predictor(backbone.output_dim, dim, params.predictor_layers, params.predictor_hidden_dim)
                for _ in range(params.num_projectors)
            ]
        for network in pool:
            network.requires_grad_(False).eval()
        # The first K until initialise_from_data selects (the choice without selection when pool_ratio = 1).
        self.random_projectors = nn.ModuleList(pool[: params.num_projectors])
        self._pool = pool if params.pool_ratio > 1 else None  # never registered: not in state_dict
        self.predictors = nn.ModuleList(predictors)
        self.register_buffer("selected", torch.arange(params.num_projectors))  # pool index of each kept one
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))  # optimiser steps so far

    @staticmethod
    def check_target_arch(params: LFRParams, example: tuple[int, ...]) -> str:
        """The projector architecture for examples of shape ``example`` ((C, T) windows or (C, H, W) patches):
        ``params.target_arch``, or the domain's default when unset; ValueError naming both sides when it reads
        the other shape."""
        if len(example) == 3:
            arch = params.target_arch or "conv"
            if arch != "conv":
                raise ValueError(
                    f"lfr target_arch '{arch}' is a projector of time-series windows, but the data "
                    f"are seismic patches of {example[0]} channel(s) x {example[1]} x {example[2]}; "
                    f"patches take target_arch 'conv' (or leave it unset)"
                )
            return arch
        arch = params.target_arch or "mlp"
        if arch == "conv":
            raise ValueError(
                f"lfr target_arch 'conv' is the projector of seismic patches, but the data are "
                f"time-series windows of {example[0]} channel(s) x {example[1]} steps; windows take "
                f"target_arch 'mlp' or 'cnn'"
            )
        for name in ("target_map_height", "target_map_width"):
            if getattr(params, name) is not None:
                raise ValueError(
                    f"lfr {name} sizes the dense target maps of seismic patches; time-series "
                    f"windows have vector targets (target_dim): remove it"
                )
        return arch

    @classmethod
    def check_pretext_data(cls, params: LFRParams, windows, shared) -> None:
        # Before the sweep starts (exit 2), the same refusal the model's construction would raise in a trial.
        cls.check_target_arch(params, tuple(windows.x.shape[1:]))

    def train(self, mode: bool = True) -> "LFR":
        # The projectors stay in eval mode, as the reference's train loop sets them (no projector architecture has
        # BatchNorm or dropout, so this only matters for projectors that would).
        super().train(mode)
        self.random_projectors.eval()
        return self

    # ------------------------------------------------------------------------------------ projectors
    @torch.no_grad()
    def initialise_from_data(self, sample: torch.Tensor) -> None:
        """Keep the K most diverse projectors of the pool by greedy DPP on ``sample`` (pool_ratio > 1)."""
        if self._pool is None:
            return
        device = self.selected.device
        self._check_windows(sample)
        limit = DPP_PATCHES if self.dense else DPP_WINDOWS
        if len(sample) > limit:  # evenly spaced over the sample (sorted by position in the data)
            sample = sample[torch.linspace(0, len(sample) - 1, limit).round().long()]
        sample = sample.to(device=device, dtype=torch.float32)
        if self.dense:  # one projector's maps at a time (module docstring)
            kernel = dense_similarity_kernel([network.to(device) for network in self._pool], sample)
        else:
            kernel = projector_similarity_kernel(torch.stack([network.to(device)(sample) for network in self._pool]))
        chosen = dpp_greedy(kernel.cpu().numpy(), self.params.num_projectors)
        # Fewer than K when the kernel runs out of independent directions: fill with the lowest unchosen.
        chosen += [i for i in range(len(self._pool)) if i not in chosen][: self.params.num_projectors - len(chosen)]
        self.random_projectors = nn.ModuleList(self._pool[i] for i in chosen).eval()
        self.selected.copy_(torch.tensor(chosen, dtype=torch.long))
        self._pool = None

    def _check_windows(self, x: torch.Tensor) -> None:
        shape = self.data_shape
        assert shape is not None  # LFR is never built without its DataShape (__init__)
        expected: tuple[int | None, ...]
        if self.dense:
            expected = (shape.n_channels, shape.height, shape.window_length)
            if x.dim() != 4 or tuple(x.shape[1:]) != expected:
                raise ValueError(
                    f"lfr's random projectors were built for seismic patches of {expected[0]} "
                    f"channel(s) x {expected[1]} x {expected[2]} (the DataShape), got a batch of "
                    f"shape {tuple(x.shape)}"
                )
            return
        expected = (shape.n_channels, shape.window_length)
        if x.dim() != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"lfr's random projectors were built for windows of {expected[0]} channels x "
                f"{expected[1]} steps, got a batch of shape {tuple(x.shape)}"
            )

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """What the predictors read: the backbone's feature map on patches, its vector on windows."""
        backbone = self.backbone
        if not self.dense:
            return backbone(x)
        assert isinstance(backbone, FeatureMapBackbone)  # checked when the dense heads were built (__init__)
        return backbone.forward_features(x)

    # ------------------------------------------------------------------------------------ training step
    def is_predictor_step(self) -> bool:
        """Whether the next optimiser step trains the predictors only (the encoder otherwise)."""
        cycle = self.params.predictor_steps + 1
        return cycle > 1 and int(self.steps_done) % cycle != 0

    def forward(self, batch: PretextBatch) -> StepOutput:
        x = batch.x
        self._check_windows(x)
        with torch.no_grad():
            targets = [network(x) for network in self.random_projectors]
        predictor_step = self.is_predictor_step()
        if predictor_step:
            # The reference's predictor epochs: encoder in eval mode, only the predictors' optimiser steps.
            training = self.backbone.training
            self.backbone.eval()
            with torch.no_grad():
                features = self._features(x)
            self.backbone.train(training)
            predictions = [predictor(features) for predictor in self.predictors]
        elif self.params.predictor_steps == 0:
            features = self._features(x)
            predictions = [predictor(features) for predictor in self.predictors]
        else:
            # The reference's encoder epoch: predictors applied (BatchNorm in train mode) but not trained.
            features = self._features(x)
            predictions = [
                functional_call(predictor, {name: p.detach() for name, p in predictor.named_parameters()}, (features,))
                for predictor in self.predictors
            ]
        losses = [self._criterion(p, z) for p, z in zip(predictions, targets, strict=True)]
        return StepOutput(torch.stack(losses).mean(), {"predictor_step": torch.tensor(float(predictor_step))})

    def _criterion(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # Dense maps (B, D, h, w): one vector per patch, (B, D h w) (module docstring); vectors unchanged.
        prediction, target = prediction.flatten(1), target.flatten(1)
        if self.params.loss_type == "cosine":
            return negative_cosine(prediction, target)
        return batch_barlow_loss(prediction, target, self.params.lambda_offdiag)

    def after_optimizer_step(self, progress: float) -> None:
        self.steps_done += 1

    def ddp_options(self) -> dict:
        # With predictor_steps = 0 every step uses every trainable parameter: no graph traversal needed.
        return {"find_unused_parameters": True} if self.params.predictor_steps > 0 else {}
