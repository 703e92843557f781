"""The search-space file: YAML -> validated ``SweepSpec``, with one-line refusals naming file, field and expectation.

May import ``selfsup`` (the specs, registries and hyperparameter models it validates against) and nothing else of
``trainables``: every other layer of the sweep side reads a ``SweepSpec``.

- ``sweep_spec.py``: the schema (search, budget, resources, scheduler, sampler, final re-runs, health, objective)
  and every check across its sections;
- ``dimensions.py``: one searched hyperparameter as an Optuna distribution;
- ``yaml_file.py``: reading the file, bounded in size, depth and aliases;
- ``loading.py``: ``load_sweep`` and the command line's budget overrides;
- ``messages.py``: ``SearchSpaceError`` and the one-line messages.
"""

from trainables.searchspace.dimensions import Dimension
from trainables.searchspace.loading import load_sweep, override_budget
from trainables.searchspace.messages import SearchSpaceError, one_line
from trainables.searchspace.sweep_spec import (
    GIB,
    LAUNCHER_REQUEST,
    METHOD_PARAM,
    BudgetSpec,
    FinalSpec,
    HealthSpec,
    MethodChoice,
    ObjectiveSpec,
    ResourcesSpec,
    SamplerSpec,
    SchedulerSpec,
    SweepSpec,
    split_trial_params,
)
from trainables.searchspace.yaml_file import parse_yaml, read_searchspace_text

__all__ = [
    "BudgetSpec",
    "Dimension",
    "FinalSpec",
    "GIB",
    "LAUNCHER_REQUEST",
    "HealthSpec",
    "METHOD_PARAM",
    "MethodChoice",
    "ObjectiveSpec",
    "ResourcesSpec",
    "SamplerSpec",
    "SchedulerSpec",
    "SearchSpaceError",
    "SweepSpec",
    "load_sweep",
    "one_line",
    "override_budget",
    "parse_yaml",
    "read_searchspace_text",
    "split_trial_params",
]
