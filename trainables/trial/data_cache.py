"""Data prepared once per sweep, shared by every trial through Ray's object store.

Loading, cleaning, splitting, standardising and windowing the data (the domain's ``prepare_data``) gives
the same result for every trial of a sweep that shares the data spec, input size and seed. One
``PreparedDataCache`` actor per sweep prepares each distinct request once and keeps the result in the
object store; trials (and every Ray Train worker of a trial) fetch it by reference. On the node where it
was put, ``ray.get`` reads the arrays from shared memory without a copy (they come back read-only); other
nodes pull one copy each. The actor lives as long as the driver holds its handle, i.e. for the sweep.

The actor is pinned to the driver's node: that is where ``tune.py`` checked that the data files exist.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from trainables.searchspace import SweepSpec


def data_request(spec: SweepSpec, params: Mapping[str, Any] | None = None) -> str:
    """The cache key: the domain and everything its ``prepare_data`` depends on, as canonical JSON
    (``params``: a trial's hyperparameters; only those that change the data count, e.g. a searched window
    length, see ``Domain.data_arguments``)."""
    if params is not None:  # with the trial's method's own fixed values (a sweep across methods)
        spec, params = spec.for_trial(dict(params))
    domain = spec.domain
    return json.dumps(
        {"domain": domain.name, "arguments": domain.data_arguments(spec.data, spec.seed, params or {})}, sort_keys=True
    )


def prepare_requested(request: str):
    """The prepared data for a ``data_request``."""
    from selfsup.domains import domain_named

    request = json.loads(request)
    return domain_named(request["domain"]).prepare_data(**request["arguments"])


@ray.remote(num_cpus=0)
class PreparedDataCache:
    def __init__(self) -> None:
        self._prepared: dict[str, ray.ObjectRef] = {}

    def get(self, request: str) -> list[ray.ObjectRef]:
        """The reference to the prepared data for ``request`` (a ``data_request``), preparing it on first use.

        Wrapped in a list so that Ray hands back the reference itself rather than resolving it. Calls run
        one at a time, so trials that ask at once wait for the one preparation.
        """
        if request not in self._prepared:
            self._prepared[request] = ray.put(prepare_requested(request))
        return [self._prepared[request]]

    def preparations(self) -> int:
        """How many times data was prepared (the number of distinct requests)."""
        return len(self._prepared)


def start_data_cache() -> Any:
    """A cache actor on the driver's node; keep the handle for the length of the sweep."""
    here = ray.get_runtime_context().get_node_id()
    return PreparedDataCache.options(scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()


def fetch_prepared_data(cache, spec: SweepSpec, params: Mapping[str, Any] | None = None) -> ray.ObjectRef:
    """The object-store reference to the prepared data of a trial with ``params`` (prepared by the first caller)."""
    return ray.get(cache.get.remote(data_request(spec, params)))[0]
