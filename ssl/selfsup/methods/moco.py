"""MoCo v2 (He, Fan, Wu, Xie & Girshick, CVPR 2020; Chen, Fan, Girshick & He, "Improved Baselines with
Momentum Contrastive Learning", 2020; github.com/facebookresearch/moco, ``moco/builder.py``).

A query encoder (backbone + MLP head) is trained to pick the key of its own window, computed by a momentum
copy of the encoder, among ``queue_size`` keys of earlier batches (InfoNCE, temperature 0.2 in v2). After
each step the keys of the whole global batch (gathered from every DDP rank) replace the oldest queued ones,
so every rank holds the same queue. Under DDP the key encoder sees a shuffled global batch ("shuffle BN",
as the official code), so BatchNorm cannot leak which samples belong together.

Paper values: queue 65536, momentum 0.999, head 2048 -> 128 without BatchNorm, temperature 0.2. The queue
must not hold more keys than there are pretext windows, or a window meets stale copies of itself among its
negatives; that is checked before the sweep starts.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from pydantic import Field

from selfsup.distributed import gather_batch, gather_batch_with_offset, world_size
from selfsup.heads import ProjectionHead
from selfsup.losses import info_nce_with_queue
from selfsup.methods.base import ALL_DOMAINS, METHODS, MethodParams, PretextBatch, SSLMethod, StepOutput
from selfsup.methods.momentum import ema_update, frozen_copy


class MoCoParams(MethodParams):
    queue_size: int = Field(4096, ge=1)
    momentum: float = Field(0.999, ge=0, le=1)
    temperature: float = Field(0.2, gt=0)


@METHODS.register("moco")
class MoCo(SSLMethod[MoCoParams]):
    Params = MoCoParams
    domains = ALL_DOMAINS
    pretext_check_params = frozenset({"queue_size", "batch_size"})
    projector: ProjectionHead  # its own head (no BatchNorm), in place of the shared one
    queue: torch.Tensor  # buffers (registered in __init__)
    queue_pointer: torch.Tensor

    def __init__(self, backbone, projector, params: MoCoParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        self.projector = ProjectionHead(
            backbone.output_dim,
            projector.output_dim,
            projector.layers,
            projector.hidden_dim or backbone.output_dim,
            batch_norm=False,
        )
        self.key_backbone = frozen_copy(self.backbone)
        self.key_projector = frozen_copy(self.projector)
        # Buffers, so the queue and its write position are part of every checkpoint.
        self.register_buffer("queue", F.normalize(torch.randn(projector.output_dim, params.queue_size), dim=0))
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))

    @classmethod
    def check_pretext_data(cls, params: MoCoParams, windows, shared) -> None:
        n_windows, batch_size = len(windows), shared.batch_size
        if params.queue_size > n_windows:
            raise ValueError(
                f"moco queue_size {params.queue_size} exceeds the {n_windows} pretext windows: "
                f"windows would meet stale copies of themselves as negatives; use queue_size <= "
                f"{n_windows}"
            )
        if batch_size > params.queue_size:
            raise ValueError(
                f"moco queue_size {params.queue_size} is smaller than batch_size {batch_size}: one "
                f"batch of keys must fit in the queue"
            )

    def forward(self, batch: PretextBatch) -> StepOutput:
        view_q, view_k = batch.views(2)
        query = F.normalize(self.projector(self.backbone(view_q)), dim=1)
        with torch.no_grad():
            key = self._keys(view_k)
        loss = info_nce_with_queue(query, key, self.queue.clone(), self.params.temperature)
        if self.training:
            self._enqueue(key)
        return StepOutput(loss)

    def after_optimizer_step(self, progress: float) -> None:
        ema_update(self.key_backbone, self.backbone, self.params.momentum)
        ema_update(self.key_projector, self.projector, self.params.momentum)

    @torch.no_grad()
    def _keys(self, view: torch.Tensor) -> torch.Tensor:
        if world_size() == 1:
            return F.normalize(self.key_projector(self.key_backbone(view)), dim=1)
        # Shuffle BN: encode a random slice of the global batch, then give every rank its own keys back.
        everything, offset = gather_batch_with_offset(view)
        permutation = torch.randperm(len(everything), device=view.device)
        dist.broadcast(permutation, src=0)
        mine = permutation[offset : offset + len(view)]
        keys = F.normalize(self.key_projector(self.key_backbone(everything[mine])), dim=1)
        gathered = gather_batch(keys)  # row j encodes everything[permutation[j]]
        unshuffled = torch.empty_like(gathered)
        unshuffled[permutation] = gathered
        return unshuffled[offset : offset + len(view)]

    @torch.no_grad()
    def _enqueue(self, key: torch.Tensor) -> None:
        keys = gather_batch(key)  # the whole global batch: every rank keeps the same queue
        size = self.queue.shape[1]
        positions = (self.queue_pointer + torch.arange(len(keys), device=keys.device)) % size
        self.queue[:, positions[-size:]] = keys[-size:].T
        self.queue_pointer.copy_((self.queue_pointer + len(keys)) % size)
