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

# A trial's checkpoints kept on disk: the latest, from which it resumes and whose backbone MLflow records, and the
# one before. Tune saves its experiment state whenever a trial has made this many checkpoints since the last save,
# so the state a killed driver saved last never names a deleted one (``--resume``).
KEPT_CHECKPOINTS = 2


def run_trial(params: dict[str, Any], *, sweep: dict[str, Any], storage_path: str, data_cache) -> None:
    from trainables.trial.launch import launch_trial  # here, not above: see the module's docstring

    launch_trial(
        params, sweep=sweep, storage_path=storage_path, data_cache=data_cache, kept_checkpoints=KEPT_CHECKPOINTS
    )


def make_trainable(spec: SweepSpec, storage_path: str, data_cache):
    trainable = ray.tune.with_parameters(
        run_trial, sweep=spec.model_dump(mode="json"), storage_path=storage_path, data_cache=data_cache
    )
    return ray.tune.with_resources(trainable, spec.resources.trial_process())
