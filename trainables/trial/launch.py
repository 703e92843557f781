"""One trial's run, in the Tune trial's process: the training loop there, or a ``TorchTrainer`` it waits on.

``resources.execution`` (default ``auto``) picks the path, see ``context.py``:
- in the trial (one worker): the Tune trial holds the worker's CPUs/GPUs and runs ``run_trial_loop`` itself;
- Ray Train (two or more workers): the Tune trial holds almost nothing (``trainables.searchspace.LAUNCHER_REQUEST``)
  and only waits on a ``TorchTrainer`` whose workers hold the cores; their reports reach Tune through
  ``TuneReportCallback``.
Either way the trial's data comes prepared from the sweep's ``PreparedDataCache`` (once per sweep).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import ray.tune
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from trainables.records.results import TRAINING_SEED_KEY, TRIAL_NUMBER_KEY, split_bookkeeping
from trainables.searchspace import SweepSpec
from trainables.trial.context import InTrialContext
from trainables.trial.data_cache import fetch_prepared_data
from trainables.trial.worker import run_trial_loop, train_loop_per_worker

# Ray Train switches sslsweep sets. benchmarks/train_startup.py measures these and the ones left at Ray's
# defaults: switching off the preemption watcher, Train metrics or state reconciliation saved nothing
# beyond run-to-run noise on 2 cores (docs/measurements.md).
TRAIN_ENVIRONMENT = {
    # The controller collects worker reports when it polls them (every 2 s by default), and a worker's next
    # report waits for that: with epochs of a fraction of a second the poll interval was the epoch time
    # (2.0 s per epoch against 0.4 s of work). Ray propagates this variable to the controller.
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
}


def scaling_config(spec: SweepSpec) -> ScalingConfig:
    return ScalingConfig(
        num_workers=spec.resources.workers,
        use_gpu=spec.resources.gpus_per_worker > 0,
        resources_per_worker=spec.resources.per_worker(),
    )


def launch_trial(
    params: dict[str, Any], *, sweep: dict[str, Any], storage_path: str, data_cache, kept_checkpoints: int
) -> None:
    # Ray Train logs every saved checkpoint at INFO, which reaches the driver's console from every trial; where
    # each trial's checkpoints are is recorded in MLflow (tag sslsweep.checkpoint_path).
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    spec = SweepSpec.model_validate(sweep)
    params, bookkeeping = split_bookkeeping(params)
    loop_config = {
        "sweep": sweep,
        "params": params,
        "data": fetch_prepared_data(data_cache, spec, params),
        "trial_number": bookkeeping.get(TRIAL_NUMBER_KEY),
        "training_seed": bookkeeping.get(TRAINING_SEED_KEY, spec.seed),
    }
    if not spec.resources.uses_ray_train:
        run_trial_loop(loop_config, InTrialContext(use_gpu=spec.resources.gpus_per_worker > 0))
        return
    for name, value in TRAIN_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    trial_id = ray.tune.get_context().get_trial_id()
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        scaling_config=scaling_config(spec),
        # gloo on CPU, NCCL on GPU: Ray's default for the device in use.
        torch_config=TorchConfig(),
        run_config=RunConfig(
            name=f"{spec.name}-{trial_id}",
            storage_path=storage_path,
            callbacks=[TuneReportCallback()],
            checkpoint_config=CheckpointConfig(num_to_keep=kept_checkpoints),
            # A dead worker: the group restarts and the loop resumes from the last reported checkpoint.
            failure_config=FailureConfig(max_failures=spec.resources.max_failures),
        ),
    )
    trainer.fit()
