"""Where a trial's training loop runs: inside the Tune trial, or in a Ray Train worker group.

``trainables/trial/worker.py`` holds the one training loop (``run_trial_loop``). It talks to Ray only through a
``TrialContext``, so the two ways of running it cannot drift apart:

- ``InTrialContext``: the loop runs in the Tune trial's own process (one worker). Nothing else starts, so a
  trial costs what its work costs; Tune's ``reuse_actors`` then keeps the process (and its imported torch)
  from one trial to the next. Reports go to Tune with ``ray.tune.report``, checkpoints through Tune.
- ``TrainWorkerContext``: the loop runs in each worker of a Ray Train ``TorchTrainer`` (DDP over
  ``resources.workers`` processes: gloo on CPU, NCCL on GPU). Each ``fit()`` starts a controller actor, a
  placement group and N worker processes, about 10-20 s before the first step; that is the price of data
  parallelism and of Train's fault tolerance, paid only by trials that ask for it (``resources.execution``).

Ray Train's own local mode (``num_workers=0``) cannot stand in for the first path: ``ray.train.report``
refuses to run inside a Tune session.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

import ray
import ray.train
import ray.train.torch
import ray.tune
import torch


class TrialContext:
    """What the training loop needs from the process it runs in."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as the loop should train it (wrapped for DDP where there are several workers)."""
        return model

    def prepare_loader(self, loader: torch.utils.data.DataLoader) -> torch.utils.data.DataLoader:
        """The loader as the loop should iterate it (sharded across workers where there are several)."""
        return loader

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
        raise NotImplementedError

    @property
    def node_id(self) -> str | None:
        """The Ray node this process runs on (None outside Ray, e.g. a test driving the loop itself)."""
        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None

    @contextmanager
    def restored_checkpoint(self) -> Iterator[str | None]:
        """The directory of the checkpoint to resume from, or None on a fresh start."""
        checkpoint = self._latest_checkpoint()
        if checkpoint is None:
            yield None
            return
        with checkpoint.as_directory() as directory:
            yield directory

    def _latest_checkpoint(self):
        raise NotImplementedError


class InTrialContext(TrialContext):
    """One process: the Tune trial itself (``resources.workers == 1``)."""

    def __init__(self, use_gpu: bool) -> None:
        # Ray sets CUDA_VISIBLE_DEVICES to the trial's GPU, so it is always cuda:0 in this process.
        self.device = torch.device("cuda:0" if use_gpu and torch.cuda.is_available() else "cpu")
        if use_gpu and self.device.type != "cuda":
            raise RuntimeError(
                "the trial asked for a GPU but torch sees none in its process "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})"
            )

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
        checkpoint = ray.tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.tune.report(metrics, checkpoint=checkpoint)

    def _latest_checkpoint(self):
        return ray.tune.get_checkpoint()


class TrainWorkerContext(TrialContext):
    """One of ``resources.workers`` Ray Train workers; rank 0 reports, everyone takes part in DDP."""

    def __init__(self) -> None:
        context = ray.train.get_context()
        self.rank, self.world_size = context.get_world_rank(), context.get_world_size()
        self.device = ray.train.torch.get_device()

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world_size > 1 and self.device.type == "cuda":
            # BatchNorm over the global batch, as the official Barlow Twins / VICReg / SimSiam / BYOL code; torch's
            # SyncBatchNorm runs on GPUs only, so on CPU (gloo) each rank normalises its own slice.
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        # DDP across workers, with the method's own DDP options (e.g. parameters some steps leave unused).
        return ray.train.torch.prepare_model(model, parallel_strategy_kwargs=model.ddp_options())

    def prepare_loader(self, loader: torch.utils.data.DataLoader) -> torch.utils.data.DataLoader:
        # A DistributedSampler per rank; batches stay on the CPU until the loop moves them.
        return ray.train.torch.prepare_data_loader(loader, move_to_device=False)

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
        checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)

    def _latest_checkpoint(self):
        return ray.train.get_checkpoint()
