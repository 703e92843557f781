"""CPC, Contrastive Predictive Coding (van den Oord, Li & Vinyals, "Representation Learning with Contrastive
Predictive Coding", arXiv:1807.03748, 2018), as Haresamudram, Essa & Ploetz applied it to wearable sensors
("Contrastive Predictive Coding for Human Activity Recognition", IMWUT 2021; github.com/harkash/
contrastive-predictive-coding-for-har, ``model.py`` ``CPC``, ``arguments.py``; built on
github.com/jefflai108/Contrastive-Predictive-Coding-PyTorch, ``src/model/model.py`` ``CDCK2``).

Per step, on the raw windows ``x`` (B, C, T) (no augmentation, as the HAR code)::

    z_0..z_{L-1} = g_enc(x)                 the trial's backbone with time kept, forward_sequence: (B, D, L)
    t            ~ U{0, ..., L - K - 1}     one anchor time for the whole batch (``torch.randint(L - K)``)
    c_t          = g_ar(z_0..z_t)[-1]       GRU, ``ar_layers`` layers of ``ar_hidden`` units, dropout between
    s_k(i, j)    = z_{t+k}^i . W_k c_t^j    k = 1..K (so z_{t+K} <= z_{L-1}), W_k linear (ar_hidden -> D)
    loss         = InfoNCE over the batch at each k, mean over the B windows and K steps

(:func:`selfsup.losses.cpc.cpc_info_nce` has the exact formula.) Negatives are the other windows of the
batch at the same step ``k``, gathered from every rank under DDP; the positive of each window sits at its
global row. ``softmax_over="contexts"`` normalises over the batch's predictions for each future latent, as
both reference codes do (``LogSoftmax(dim=1)`` of ``z_{t+k} @ pred_k^T``); ``"futures"`` normalises over the
batch's latents for each prediction, as the paper's eq. (4) writes it.

Reference values (HAR code): GRU 256 units, 2 layers, dropout 0.2; W_k linear with bias (kept, though with
the code's softmax over contexts the bias cancels: z_{t+k}^i . b is the same for every candidate); Adam, lr 5e-4,
batch 64; K = ``num_steps_prediction`` 28 on 50-step windows that its stride-1 encoder keeps at 50 latent
steps (jefflai108 and the paper: K = 12). Here the conv1d backbone halves time (50 steps -> 25 latents), so
K = 28 could never fit the default windows; the default is the paper's 12 (the HAR code's comment uses it
too). K must be smaller than the latent length L: checked when the method is built (from the ``DataShape``,
by running the backbone on zeros) and again at every step.

Caveat: with the ``gru`` backbone (bidirectional) or ``dilated_conv1d`` (a receptive field of over 8000
steps, both ways) every z_s has seen the whole window, so c_t and z_{t+k} share information beyond the
prediction task. conv1d's latents see 19 input steps (z_s: inputs 2s - 9 .. 2s + 9), so targets up to k = 9
share input samples with the context; the HAR encoder's 7-step field does the same up to k = 6.

The anchor time must be the same on every DDP rank (the gathered candidates are predictions of the same
step from the same t), but torch's global generator is seeded per (seed, epoch, rank) by the worker loop:
each rank draws t and rank 0's value is broadcast (:func:`shared_anchor_time`). On one process this is the
reference's draw from the global generator, so a resumed trial reproduces it (the loop reseeds per epoch).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from pydantic import Field
from torch import nn

from selfsup.backbones.base import SequenceBackbone
from selfsup.distributed import world_size
from selfsup.losses.cpc import SoftmaxOver, cpc_info_nce
from selfsup.methods.base import METHODS, MethodParams, PretextBatch, SSLMethod, StepOutput


class CPCParams(MethodParams):
    prediction_steps: int = Field(12, ge=1)  # K, future latent steps predicted from c_t
    ar_hidden: int = Field(256, ge=1)  # g_ar GRU units
    ar_layers: int = Field(2, ge=1)  # g_ar GRU layers
    ar_dropout: float = Field(0.2, ge=0, lt=1)  # between g_ar's layers (none with one layer)
    softmax_over: SoftmaxOver = "contexts"  # "contexts": reference code; "futures": the paper's eq. (4)


def shared_anchor_time(high: int, device: torch.device) -> int:
    """``t ~ U{0, ..., high - 1}`` from torch's global generator, rank 0's draw on every DDP rank.

    Every rank draws (so the generators advance alike) and rank 0's value is broadcast: the worker loop seeds
    the global generator per (seed, epoch, rank), so the ranks' own draws would differ.
    """
    t = torch.randint(high, (1,))
    if world_size() > 1:
        t = t.to(device)
        dist.broadcast(t, src=0)
    return int(t.item())


@METHODS.register("cpc")
class CPC(SSLMethod[CPCParams]):
    Params = CPCParams
    n_views = 1  # reads the raw windows; never draws views
    uses_projector = False  # g_ar and the W_k are its heads
    domains = ("timeseries",)  # predicts along time
    pretext_check_params = frozenset({"prediction_steps", "backbone"})

    def __init__(self, backbone, projector, params: CPCParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        latent_dim = backbone.output_dim
        if data is not None:
            latent_dim, latent_length = latent_shape(backbone, data.n_channels, data.window_length)
            check_horizon_fits(params.prediction_steps, latent_length, data.window_length, backbone)
        self.autoregressive = nn.GRU(
            latent_dim,
            params.ar_hidden,
            num_layers=params.ar_layers,
            batch_first=True,
            dropout=params.ar_dropout if params.ar_layers > 1 else 0.0,
        )
        self.predictors = nn.ModuleList(nn.Linear(params.ar_hidden, latent_dim) for _ in range(params.prediction_steps))

    def forward(self, batch: PretextBatch) -> StepOutput:
        x = batch.x
        steps = self.params.prediction_steps
        backbone = self.backbone
        if not isinstance(backbone, SequenceBackbone):
            raise _no_sequence(backbone)
        z = backbone.forward_sequence(x).transpose(1, 2)  # (B, L, D)
        check_horizon_fits(steps, z.shape[1], x.shape[-1], self.backbone)
        t = shared_anchor_time(z.shape[1] - steps, x.device)  # 0 <= t <= L - K - 1
        c_t = self.autoregressive(z[:, : t + 1])[0][:, -1]  # (B, ar_hidden)
        predictions = torch.stack([w_k(c_t) for w_k in self.predictors])  # (K, B, D): W_k c_t
        futures = z[:, t + 1 : t + 1 + steps].transpose(0, 1)  # (K, B, D): z_{t+1} .. z_{t+K}
        loss, accuracy = cpc_info_nce(predictions, futures, self.params.softmax_over, gather_distributed=True)
        return StepOutput(loss, {"accuracy": accuracy})

    @classmethod
    def check_pretext_data(cls, params: CPCParams, windows, shared) -> None:
        """The horizon against the latent length of the trial's backbone on these windows (before Ray)."""
        from selfsup.backbones import build_backbone

        _, channels, length = windows.x.shape
        backbone = build_backbone(shared.backbone, in_channels=channels)
        check_horizon_fits(params.prediction_steps, latent_shape(backbone, channels, length)[1], length, backbone)


@torch.no_grad()
def latent_shape(backbone: nn.Module, n_channels: int, window_length: int) -> tuple[int, int]:
    """(D, L) of the backbone's sequence for one window, measured on zeros (no strides hard-coded); in eval
    mode, so BatchNorm's running statistics stay untouched."""
    if not isinstance(backbone, SequenceBackbone):
        raise _no_sequence(backbone)
    reference = next(backbone.parameters())
    was_training = backbone.training
    backbone.eval()
    try:
        probe = torch.zeros(1, n_channels, window_length, dtype=reference.dtype, device=reference.device)
        _, dim, length = backbone.forward_sequence(probe).shape
    finally:
        backbone.train(was_training)
    return dim, length


def _no_sequence(backbone: nn.Module) -> AttributeError:
    return AttributeError(f"cpc reads the latent sequence: backbone {type(backbone).__name__} has no forward_sequence")


def check_horizon_fits(steps: int, latent_length: int, window_length: int, backbone: nn.Module) -> None:
    if steps >= latent_length:
        raise ValueError(
            f"cpc prediction_steps {steps} does not fit windows of {window_length} steps: the "
            f"{type(backbone).__name__} encodes them to {latent_length} latent steps and predicting "
            f"k steps ahead of an anchor needs k < {latent_length}; use prediction_steps <= "
            f"{latent_length - 1} or longer windows"
        )
