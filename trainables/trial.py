"""The Tune function trainable: one trial = one Ray Train TorchTrainer run.

The launching Tune trial holds almost no CPU (``LAUNCHER_RESOURCES``); the cores go to the Train workers
that the TorchTrainer starts. Worker reports reach Tune through ``TuneReportCallback``.
"""
from __future__ import annotations

import os
from typing import Any

import ray.tune
from ray.train import FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from selfsup.config import SweepSpec
from trainables.worker import train_loop_per_worker

# The launching Tune trial only waits on its TorchTrainer, so it holds no CPU: every core goes to Train
# workers, and two 1-CPU trials run at once on 2 cores (with {"CPU": 0.01} they need 2.02 and run one at a
# time). Tune refuses an empty request, so the trial asks for a little memory instead.
LAUNCHER_RESOURCES = {"CPU": 0, "memory": 256 * 1024**2}

# Ray Train's controller collects worker reports when it polls them (every 2 s by default), and a worker's
# next report waits for that: with epochs of a fraction of a second, the poll interval was the epoch time
# (measured 2.0 s per epoch against 0.4 s of work). Ray propagates this variable to the controller.
CONTROLLER_POLL_INTERVAL_S = "0.2"


def scaling_config(spec: SweepSpec) -> ScalingConfig:
    use_gpu = spec.resources.gpus_per_worker > 0
    per_worker = {"CPU": spec.resources.cpus_per_worker}
    if use_gpu:
        per_worker["GPU"] = spec.resources.gpus_per_worker
    return ScalingConfig(num_workers=spec.resources.workers, use_gpu=use_gpu, resources_per_worker=per_worker)


def run_trial(params: dict[str, Any], *, sweep: dict[str, Any], storage_path: str) -> None:
    spec = SweepSpec.model_validate(sweep)
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", CONTROLLER_POLL_INTERVAL_S)
    trial_id = ray.tune.get_context().get_trial_id()
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"sweep": sweep, "params": params},
        scaling_config=scaling_config(spec),
        # gloo on CPU, NCCL on GPU: Ray's default for the device in use.
        torch_config=TorchConfig(),
        run_config=RunConfig(
            name=f"{spec.name}-{trial_id}",
            storage_path=storage_path,
            callbacks=[TuneReportCallback()],
            failure_config=FailureConfig(max_failures=0),
        ),
    )
    trainer.fit()


def make_trainable(spec: SweepSpec, storage_path: str):
    trainable = ray.tune.with_parameters(run_trial, sweep=spec.model_dump(mode="json"), storage_path=storage_path)
    return ray.tune.with_resources(trainable, LAUNCHER_RESOURCES)
