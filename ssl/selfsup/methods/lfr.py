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

Alternation (the HAR script's ``--train-predictor-individually --pred_epochs 5``): the reference keeps two
optimisers, one over the encoder, one over the predictors. Each of its epochs is one pass that steps the
encoder only (predictors in train mode but not updated), then ``pred_epochs`` passes that step the
predictors only, with the encoder in eval mode (BatchNorm on running statistics). Here the worker has one
optimiser and one pass per epoch, so the alternation runs per step, on a step counter (``steps_done``, a
buffer, so a resumed trial continues the cycle): step ``s`` is an encoder step when
``s % (predictor_steps + 1) == 0``, else a predictor step.

- encoder step: f in train mode with gradients; each h_k is applied with its parameters detached
  (``torch.func.functional_call``), so only f gets gradients, and its BatchNorm statistics still update as
  in the reference; the first step of a trial is one.
- predictor step: f in eval mode under ``no_grad``; only the h_k get gradients.

The optimisers of this repository (Adam, AdamW, SGD) skip a parameter whose gradient is None (no moment,
no weight-decay update), so each step moves exactly the part the reference's optimiser of that phase would.
Under DDP the parameters a step leaves out are "unused" (``skips_parameters_on_some_steps``: DDP runs with
``find_unused_parameters``); unused on every rank, their gradients stay None. ``predictor_steps=0`` is the
reference without ``--train-predictor-individually``: every step trains f and all h_k jointly.

Random projectors (``build_target``): the reference uses, for time series, a small CNN (``HARCnnTarget``:
Conv1d(C, 16, 8, pad 4, no bias), ReLU, MaxPool(2, 2, pad 1), Conv1d(16, 32, 8, pad 4, no bias), ReLU,
MaxPool(2, 2, pad 1), flatten, Linear(32 L', 256), Linear(256, D); its flattened size is hard-wired to HAR's
9 x 128 windows, here computed from the ``DataShape``), and for tabular data 2-layer MLPs. sslsweep's
reference report used 4-layer MLPs on time series, and that is the default here (``target_arch="mlp"``:
the code's ``Simple4LayerMLP`` on the flattened window, C T -> 256 -> 256 -> 256 -> D, ReLU, with biases);
``target_arch="cnn"`` is the code's HAR target. Both keep PyTorch's default initialisation, as the code
does (its optional ``--init-beta`` / ``--random-dropout`` variants are not used by the HAR script and not
ported). D (``target_dim``) is the backbone's width by default: the reference uses one ``--dim`` for the
encoder output, the targets and the predictors.

Predictors (``build_predictor``): ``predictor_layers=1`` is Linear(feature dim, D) with bias (the HAR
script's ``--pred_layers 1``); 2 and 3 add (Linear without bias, BatchNorm1d, ReLU) blocks of
``predictor_hidden_dim`` (``--pred_dim`` 256) before the last Linear.

Diverse projectors (``target_sample_ratio``, ``LFR.select_targets``): K x ``pool_ratio`` projectors are
drawn and K kept by greedy DPP MAP inference (:func:`selfsup.losses.lfr.dpp_greedy`) on the kernel of
:func:`selfsup.losses.lfr.projector_similarity_kernel` over the sample that ``initialise_from_data`` gets
(``DPP_WINDOWS`` = 256 of its up to 1000 training windows, evenly spaced; the reference uses one training
batch, 128 windows in its HAR script). Kept projector k
is paired with predictor k in the DPP's order, as in the reference. ``pool_ratio=1`` keeps the K drawn
projectors and runs no selection (the reference only selects when the ratio exceeds 1).

Reproducibility: the pool is drawn in ``__init__`` from torch's global generator (the worker seeds it with
the trial seed first), and the selection is a deterministic function of the pool and the sample, which is
the same on every rank; the K kept projectors are frozen parameters (``requires_grad=False``), so they are
in ``state_dict()``, every checkpoint and DDP's initial broadcast, with the chosen pool indices in the
``selected`` buffer. The rest of the pool is never registered and is dropped after the selection.

Deviations: per-step rather than per-epoch alternation (above); when the DPP stops early (fewer than K
independent directions in the kernel, e.g. duplicated projectors) the remaining slots take the lowest
unchosen pool indices, where the reference would fail; under DDP the barlow-batch matrix spans every
rank's windows (the reference is single-device), so two workers mean one process on their concatenated
batches. HAR
defaults of the reference not carried by this module: Adam, lr 3e-4, weight decay 3e-4, batch 128, 200
epochs, constant learning rates (set in the sweep YAML).
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn
from torch.func import functional_call

from selfsup.losses.lfr import batch_barlow_loss, dpp_greedy, projector_similarity_kernel
from selfsup.losses.negative_cosine import negative_cosine
from selfsup.methods.base import METHODS, DataShape, MethodParams, PretextBatch, SSLMethod, StepOutput

TARGET_HIDDEN_DIM = 256  # the hidden width of the code's Simple4LayerMLP and of HARCnnTarget's first Linear
# Windows the DPP kernel is computed on: the reference uses one training batch (128 in its HAR script). The
# cost grows as pool x windows^2 x D; 256 of the (up to 1000) sample windows, evenly spaced, take about a
# second on one CPU core for a pool of 60.
DPP_WINDOWS = 256


class LFRParams(MethodParams):
    num_projectors: int = Field(6, ge=1)              # K (--num_targets; HAR script 6)
    pool_ratio: int = Field(10, ge=1)                 # draw K x this many, keep K by DPP (--target_sample_ratio)
    target_arch: Literal["mlp", "cnn"] = "mlp"        # 4-layer MLP (reference report) or the code's HAR CNN
    target_dim: int | None = Field(None, ge=1)        # D of targets and predictions; None: the backbone's width
    predictor_layers: int = Field(1, ge=1, le=3)      # --pred_layers (HAR script 1: one Linear)
    predictor_hidden_dim: int = Field(256, ge=1)      # --pred_dim (HAR script 256), for 2 or 3 layers
    loss_type: Literal["barlow_batch", "cosine"] = "barlow_batch"  # --loss (HAR script barlow-batch)
    lambda_offdiag: float = Field(0.01, ge=0)         # --lambd, barlow_batch's off-diagonal weight
    predictor_steps: int = Field(5, ge=0)             # predictor-only steps per encoder step (--pred_epochs)


class RandomMLPProjector(nn.Sequential):
    """The LFR code's ``Simple4LayerMLP`` on the flattened window: C T -> 256 -> 256 -> 256 -> D, ReLU."""

    def __init__(self, data: DataShape, output_dim: int, hidden_dim: int = TARGET_HIDDEN_DIM) -> None:
        width = data.n_channels * data.window_length
        super().__init__(nn.Flatten(),
                         nn.Linear(width, hidden_dim), nn.ReLU(inplace=True),
                         nn.Linear(hidden_dim, hidden_dim), nn.ReLU(inplace=True),
                         nn.Linear(hidden_dim, hidden_dim), nn.ReLU(inplace=True),
                         nn.Linear(hidden_dim, output_dim))


class RandomCNNProjector(nn.Module):
    """The LFR code's ``HARCnnTarget`` for any channel count and window length (the code fixes 9 x 128)."""

    def __init__(self, data: DataShape, output_dim: int, hidden_dim: int = TARGET_HIDDEN_DIM) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(data.n_channels, 16, kernel_size=8, stride=1, padding=4, bias=False), nn.ReLU(),
            nn.MaxPool1d(kernel_size=2, stride=2, padding=1),
            nn.Conv1d(16, 32, kernel_size=8, stride=1, padding=4, bias=False), nn.ReLU(),
            nn.MaxPool1d(kernel_size=2, stride=2, padding=1),
        )
        length = data.window_length
        for _ in range(2):  # conv (k 8, pad 4): T + 1 steps; max-pool (k 2, s 2, pad 1): L // 2 + 1
            length = (length + 1) // 2 + 1
        self.mlp = nn.Sequential(nn.Linear(32 * length, hidden_dim), nn.Linear(hidden_dim, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.conv(x).flatten(1))


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
class LFR(SSLMethod):
    Params = LFRParams
    uses_projector = False                   # the random projectors and the predictors are its heads
    domains = ("timeseries",)                # its random projectors read windows (seismic: issue 12)
    skips_parameters_on_some_steps = True    # encoder steps leave the predictors out, predictor steps f

    def __init__(self, backbone, projector, params: LFRParams, data: DataShape | None = None) -> None:
        super().__init__(backbone, projector, params, data)
        if data is None:
            raise ValueError("lfr builds its random projectors for the windows' channels and length: "
                             "it needs the DataShape")
        dim = params.target_dim or backbone.output_dim
        build = RandomMLPProjector if params.target_arch == "mlp" else RandomCNNProjector
        pool = [build(data, dim) for _ in range(params.num_projectors * params.pool_ratio)]
        for network in pool:
            network.requires_grad_(False).eval()
        # The first K until initialise_from_data selects (the choice without selection when pool_ratio = 1).
        self.random_projectors = nn.ModuleList(pool[:params.num_projectors])
        self._pool = pool if params.pool_ratio > 1 else None  # never registered: not in state_dict
        self.predictors = nn.ModuleList(
            build_predictor(backbone.output_dim, dim, params.predictor_layers, params.predictor_hidden_dim)
            for _ in range(params.num_projectors))
        self.register_buffer("selected", torch.arange(params.num_projectors))  # pool index of each kept one
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))  # optimiser steps so far

    def train(self, mode: bool = True) -> "LFR":
        # The projectors stay in eval mode, as the reference's train loop sets them (neither architecture has
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
        if len(sample) > DPP_WINDOWS:  # evenly spaced over the sample (sorted by position in the data)
            sample = sample[torch.linspace(0, len(sample) - 1, DPP_WINDOWS).round().long()]
        sample = sample.to(device=device, dtype=torch.float32)
        representations = torch.stack([network.to(device)(sample) for network in self._pool])
        kernel = projector_similarity_kernel(representations)
        chosen = dpp_greedy(kernel.cpu().numpy(), self.params.num_projectors)
        # Fewer than K when the kernel runs out of independent directions: fill with the lowest unchosen.
        chosen += [i for i in range(len(self._pool)) if i not in chosen][:self.params.num_projectors - len(chosen)]
        self.random_projectors = nn.ModuleList(self._pool[i] for i in chosen).eval()
        self.selected.copy_(torch.tensor(chosen, dtype=torch.long))
        self._pool = None

    def _check_windows(self, x: torch.Tensor) -> None:
        expected = (self.data_shape.n_channels, self.data_shape.window_length)
        if x.dim() != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"lfr's random projectors were built for windows of {expected[0]} channels x "
                             f"{expected[1]} steps, got a batch of shape {tuple(x.shape)}")

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
                features = self.backbone(x)
            self.backbone.train(training)
            predictions = [predictor(features) for predictor in self.predictors]
        elif self.params.predictor_steps == 0:
            features = self.backbone(x)
            predictions = [predictor(features) for predictor in self.predictors]
        else:
            # The reference's encoder epoch: predictors applied (BatchNorm in train mode) but not trained.
            features = self.backbone(x)
            predictions = [functional_call(predictor, {name: p.detach() for name, p in predictor.named_parameters()},
                                           (features,))
                           for predictor in self.predictors]
        losses = [self._criterion(p, z) for p, z in zip(predictions, targets, strict=True)]
        return StepOutput(torch.stack(losses).mean(), {"predictor_step": torch.tensor(float(predictor_step))})

    def _criterion(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.params.loss_type == "cosine":
            return negative_cosine(prediction, target)
        return batch_barlow_loss(prediction, target, self.params.lambda_offdiag)

    def after_optimizer_step(self, progress: float) -> None:
        self.steps_done += 1

    def ddp_options(self) -> dict:
        # With predictor_steps = 0 every step uses every trainable parameter: no graph traversal needed.
        return {"find_unused_parameters": True} if self.params.predictor_steps > 0 else {}
