"""The Tune function trainable the driver hands to Tune: what a trial asks Ray for, and its entry point.

Tune starts an actor for every pending trial and, when a finished trial's actor is reused, throws the one starting
for the next trial away (Ray 2.60 ``TuneController._maybe_reuse_cached_actor``). An actor loads this module when it
starts, so it imports Ray Tune only: torch, Ray Train and the training loop (``launch.py``) load when the trial
runs. A start thrown away then costs Ray Tune's import, not torch's (docs/measurements.md, "At a cluster's scale").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ray.tune

if TYPE_CHECKING:
    from trainables.searchspace import SweepSpec

# A launching Tune trial only waits on its TorchTrainer, so it holds no CPU: every core goes to Train
# workers, and two 1-CPU trials run at once on 2 cores (with {"CPU": 0.01} they need 2.02 and run one at a
# time). Tune refuses an empty request, so the trial asks for a little memory instead.
LAUNCHER_RESOURCES = {"CPU": 0, "memory": 256 * 1024**2}

# A trial's checkpoints kept on disk: the latest, from which it resumes and whose backbone MLflow records, and the
# one before. Tune saves its experiment state whenever a trial has made this many checkpoints since the last save,
# so the state a killed driver saved last never names a deleted one (``--resume``).
KEPT_CHECKPOINTS = 2


def trial_resources(spec: SweepSpec) -> dict[str, float]:
    """What the Tune trial itself asks Ray for."""
    return dict(LAUNCHER_RESOURCES) if spec.resources.uses_ray_train else spec.resources.per_worker()


def run_trial(params: dict[str, Any], *, sweep: dict[str, Any], storage_path: str, data_cache) -> None:
    from trainables.trial.launch import launch_trial  # here, not above: see the module's docstring

    launch_trial(
        params, sweep=sweep, storage_path=storage_path, data_cache=data_cache, kept_checkpoints=KEPT_CHECKPOINTS
    )


def make_trainable(spec: SweepSpec, storage_path: str, data_cache):
    trainable = ray.tune.with_parameters(
        run_trial, sweep=spec.model_dump(mode="json"), storage_path=storage_path, data_cache=data_cache
    )
    return ray.tune.with_resources(trainable, trial_resources(spec))
