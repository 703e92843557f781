"""Run a function on two (or more) real torch.distributed gloo processes, for the DDP tests."""

from __future__ import annotations

import time

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp


def run_on_gloo_ranks(worker, args: tuple, world: int = 2, timeout_s: float = 90.0) -> None:
    """``worker(rank, *args)`` on ``world`` spawned processes; a worker's exception is re-raised here, and a
    hang fails the test after ``timeout_s`` instead of blocking the suite. Skips where gloo is unavailable."""
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed gloo backend is not available")
    context = mp.spawn(worker, args=args, nprocs=world, join=False)
    deadline = time.monotonic() + timeout_s
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                if process.is_alive():
                    process.terminate()
            pytest.fail(f"{world}-process gloo test did not finish within {timeout_s:g} s")
