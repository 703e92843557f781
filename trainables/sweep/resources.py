"""What a sweep asks of the machine or cluster, checked before anything is recorded.

``check_local_resources`` runs before Ray starts (dry run included): when Ray would start on this machine, a
sweep whose one trial asks for more GPUs, CPUs or memory than the machine has is refused at once instead of
starting Ray and failing (or waiting forever for a placement) there.
``trial_concurrency`` checks the same against each node of the cluster Ray connected to, before the sweep's
MLflow parent run is created. All raise ``ResourceError``: one line naming the field, what was asked and what
there is (``tune.py`` prints it, exit code 2). Imports torch only to count this machine's GPUs, and Ray not at
all: the driver passes in what its Ray connection reports (``node_resources``).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

from trainables.searchspace import GIB


class ResourceError(ValueError):
    """A resource request (``resources.*``) the machine or cluster cannot meet; the message is one line that
    names the field, what one trial asks for and what there is."""


# A worker request's field in the search-space file, the unit it is printed in, and bytes (or units) per unit.
_FIELDS = {
    "GPU": ("gpus_per_worker", "GPU", 1),
    "CPU": ("cpus_per_worker", "CPU", 1),
    "memory": ("memory_gib_per_worker", "GiB", GIB),
}


def running_local_cluster(environ=os.environ) -> str | None:
    """The address of a cluster this machine joined with ``ray start`` (which ``ray.init()`` without an address
    joins, and whose other nodes may have GPUs), or None when ``ray.init()`` would start a new Ray here.

    Ray's own rule (``ray._private.services.get_ray_address_from_environment``: the file ``ray start`` writes,
    ``ray_current_cluster`` in Ray's temporary directory), read without importing Ray: ``tune.py`` asks before
    Ray is imported (``keep_local_ray_on_loopback``)."""
    if environ.get("RAY_TMPDIR"):
        temporary = environ["RAY_TMPDIR"]
    elif sys.platform.startswith("linux") and environ.get("TMPDIR"):
        temporary = environ["TMPDIR"]
    else:
        temporary = "/tmp" if sys.platform.startswith(("linux", "darwin")) else tempfile.gettempdir()
    try:
        return (Path(temporary) / "ray" / "ray_current_cluster").read_text().strip() or None
    except OSError:
        return None


def ray_target(environ=os.environ) -> str:
    """Which Ray a sweep started here would use, as ``ray.init()`` picks it: the cluster ``RAY_ADDRESS`` names, the
    cluster this machine joined with ``ray start``, or a new Ray instance on this machine alone."""
    address = environ.get("RAY_ADDRESS")
    if address and address != "local":
        return f"the cluster at {address} (RAY_ADDRESS)"
    joined = None if address == "local" else running_local_cluster(environ)
    if joined:
        return f"the cluster this machine joined with `ray start`, at {joined}"
    return f"a new Ray instance on this machine alone ({os.cpu_count()} CPUs)"


def joins_a_cluster(environ=os.environ) -> bool:
    """Whether ``ray.init()`` would join a running cluster rather than start Ray here (``ray_target``)."""
    return not ray_target(environ).startswith("a new Ray instance")


def describe_cluster(ray_module, joined: bool) -> str:
    """The cluster ``ray.init()`` connected to, in one line: where, how many nodes, CPUs and GPUs (what Ray cannot
    tell is left out: the line informs, it never stops a sweep)."""
    resources = ray_module.cluster_resources()
    try:
        nodes = sum(1 for node in ray_module.nodes() if node.get("Alive"))
        address = ray_module.get_runtime_context().gcs_address
    except Exception:  # noqa: BLE001 - a client connection (ray://) or an older Ray without these
        nodes, address = 0, os.environ.get("RAY_ADDRESS", "its address")
    where = f"joined the cluster at {address}" if joined else f"started Ray on this machine at {address}"
    if not nodes:
        return f"{where}: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs"
    return (
        f"{where}: {nodes} node{'' if nodes == 1 else 's'}, {resources.get('CPU', 0):g} CPUs, "
        f"{resources.get('GPU', 0):g} GPUs"
    )


def local_gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def local_memory_gib() -> float:
    """This machine's physical memory in GiB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB


def _local_amount(key: str) -> float:
    """What this machine has of a Ray resource, in Ray's units (memory in bytes): the most a local ``ray.init()``
    offers (GPUs by torch's count, CPUs by ``os.cpu_count()``, memory physical; Ray offers less of it)."""
    if key == "GPU":
        return local_gpu_count()
    if key == "CPU":
        return os.cpu_count() or 1
    return local_memory_gib() * GIB


def check_local_resources(spec, environ=os.environ) -> None:
    """``ResourceError`` when Ray would start on this machine (no ``RAY_ADDRESS``, no running ``ray start``
    cluster) and one trial's workers ask for more GPUs, CPUs or memory than the machine has (in that order). With
    ``RAY_ADDRESS`` (or a running cluster) each node of the cluster is checked once Ray has connected
    (``trial_concurrency``), as is what a local Ray offers once it has started, still before anything is
    recorded."""
    if environ.get("RAY_ADDRESS"):
        return
    asked = spec.resources
    per_worker = asked.per_worker()
    for key in [key for key in _FIELDS if per_worker.get(key)]:
        field, unit, scale = _FIELDS[key]
        amount, have = per_worker[key] / scale, _local_amount(key) / scale
        if asked.workers * amount <= have + 1e-9 or running_local_cluster(environ):
            continue
        expected = (
            "gpus_per_worker: 0 to train on CPU, or RAY_ADDRESS naming a cluster with GPUs"
            if key == "GPU" and have == 0
            else f"workers x {field} of at most {_down(have)}, or RAY_ADDRESS naming a larger cluster"
        )
        raise ResourceError(
            f"resources.{field}: one trial asks for {asked.workers * amount:g} {unit} ({asked.workers} worker(s) x "
            f"{amount:g}), but this machine has {_down(have)} {unit}{'s' if unit != 'GiB' and have != 1 else ''} "
            f"and Ray would start here (RAY_ADDRESS is not set); expected {expected}"
        )


def node_resources(ray_module) -> list[dict[str, float]]:
    """What each live node of the connected cluster offers (Ray's resource names, memory in bytes); the whole
    cluster as one node where Ray cannot list its nodes (``ray.nodes()`` failed), with a warning: a sum over
    nodes can count a worker no single node holds."""
    try:
        return [node["Resources"] for node in ray_module.nodes() if node.get("Alive")]
    except Exception as error:  # noqa: BLE001 - whatever Ray raises, the sweep goes on with the totals
        warnings.warn(f"Ray did not list the cluster's nodes ({error}); counting trials on its total resources")
        return [ray_module.cluster_resources()]


def describe_request(request: dict[str, float]) -> str:
    """A Ray resource request in the file's units: ``1 CPU, 0.5 GPU, 2 GiB``."""
    return ", ".join(f"{amount / _FIELDS[key][2]:g} {_FIELDS[key][1]}" for key, amount in request.items())


def trial_concurrency(spec, nodes: list[dict[str, float]], environ=os.environ) -> int:
    """How many trials run at once on these nodes: placed one after the other, each trial's Tune process (the
    launcher of its Ray Train workers, or the one worker itself) and then its ``resources.workers`` workers, each
    on the first node with room (a worker runs on one node; a trial's workers may spread over several); at most
    ``budget.trials`` and ``budget.max_concurrent``. ``ResourceError`` when not one trial fits."""
    limit = min(spec.budget.trials, spec.budget.max_concurrent or spec.budget.trials)
    fits = _trials_that_fit(spec.resources, nodes, limit)
    if fits < 1:  # raised before the sweep records anything (run_sweep creates its parent run after this)
        raise ResourceError(_no_trial_fits(spec, nodes, environ))
    return fits


class _FreeResources:
    """What is left on each node as requests are placed one after the other, each on the first node with room."""

    def __init__(self, nodes: list[dict[str, float]]) -> None:
        self.nodes = [dict(node) for node in nodes]

    def place(self, request: dict[str, float]) -> bool:
        for node in self.nodes:
            if all(node.get(key, 0) + 1e-9 >= amount for key, amount in request.items()):
                for key, amount in request.items():
                    node[key] = node.get(key, 0) - amount
                return True
        return False


def _trials_that_fit(resources, nodes: list[dict[str, float]], limit: int) -> int:
    free, workers = _FreeResources(nodes), resources.workers if resources.uses_ray_train else 0
    fits = 0
    while (
        fits < limit
        and free.place(resources.trial_process())
        and all(free.place(resources.per_worker()) for _ in range(workers))
    ):
        fits += 1
    return fits


def _no_trial_fits(spec, nodes: list[dict[str, float]], environ) -> str:
    asked = spec.resources
    cluster = f"the Ray cluster{' at ' + environ['RAY_ADDRESS'] if environ.get('RAY_ADDRESS') else ''}"
    per_worker = asked.per_worker()
    for key in [key for key in _FIELDS if key in per_worker]:  # GPUs first: the likeliest to be missing
        field, unit, scale = _FIELDS[key]
        amount, largest = per_worker[key] / scale, max(node.get(key, 0) for node in nodes) / scale
        if amount > largest:  # no node holds one worker
            where = "has" if len(nodes) == 1 else f"has {len(nodes)} nodes, the largest with"
            return (
                f"resources.{field}: one trial asks for {asked.workers * amount:g} {unit} "
                f"({asked.workers} worker(s) x {amount:g}), but {cluster} {where} {_down(largest)} {unit}; "
                f"expected at most {_down(largest)} {unit} per worker there"
                + (", or a cluster with GPUs" if key == "GPU" and largest == 0 else "")
            )
    if not _FreeResources(nodes).place(per_worker):
        return (
            f"resources: one worker asks for {describe_request(per_worker)}, but no node of {cluster} has all of "
            f"that; expected a request one node holds"
        )
    # Only a Ray Train trial gets here (an in-trial trial is its one worker, which fits by now): its launcher, then
    # as many of its workers as fit beside it.
    free = _FreeResources(nodes)
    free.place(asked.trial_process())
    held = 0
    while held < asked.workers and free.place(per_worker):
        held += 1
    return (
        f"resources.workers: one trial asks for {asked.workers} workers of {describe_request(per_worker)} each "
        f"beside the Tune trial that launches them ({describe_request(asked.trial_process())}), but {cluster} holds "
        f"{held} at once; expected workers of at most {held} there"
    )


def _down(value: float) -> str:
    """``value`` rounded down to 2 decimals: a limit named in a refusal is never above what there is."""
    return f"{math.floor(value * 100 + 1e-9) / 100:g}"
