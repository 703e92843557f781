"""From a path to a validated ``SweepSpec``, and the command line's overrides of its budget."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import ValidationError

from trainables.searchspace.messages import SearchSpaceError, explain, one_line
from trainables.searchspace.sweep_spec import SweepSpec
from trainables.searchspace.yaml_file import parse_yaml, read_searchspace_text


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a search-space file; raises ``SearchSpaceError`` with a one-line message."""
    try:
        return _read_sweep(Path(path))
    except SearchSpaceError as error:
        raise SearchSpaceError(one_line(str(error))) from None


def _read_sweep(path: Path) -> SweepSpec:
    raw = parse_yaml(path, read_searchspace_text(path))
    if raw is None:
        raise SearchSpaceError(
            f"{path}: the file holds no settings (only comments or null); expected a mapping of sweep settings "
            f"(name, method, data, ...)"
        )
    if not isinstance(raw, dict):
        raise SearchSpaceError(
            f"{path}: expected a mapping of sweep settings at the top level, got {type(raw).__name__}"
        )
    try:
        return SweepSpec(**raw)
    except ValidationError as error:
        raise SearchSpaceError(f"{path}: {explain(error, SweepSpec)}") from None


def override_budget(
    spec: SweepSpec,
    path: str | Path,
    trials: int | None = None,
    epochs: int | None = None,
    flags: dict[str, str] | None = None,
) -> SweepSpec:
    """``spec`` with its budget's trials and/or epochs replaced (``tune.py --trials/--epochs``), or
    ``SearchSpaceError`` in one line that names the override as ``flags`` does (default: the command-line flags)
    and what it must be: at least 1, the grid's size for a grid sweep, and room for what the file counts in
    epochs and trials (scheduler.grace_period, final.top_k)."""
    flags = {"trials": "--trials", "epochs": "--epochs", **(flags or {})}
    overrides = {key: value for key, value in (("trials", trials), ("epochs", epochs)) if value is not None}
    for key, value in overrides.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SearchSpaceError(
                one_line(f"{path}: {flags[key]} {value}: expected a whole number of {key} of at least 1")
            )
    if "trials" in overrides and spec.sampler.type == "grid":
        size = math.prod(len(values) for values in spec.grid().values())
        if overrides["trials"] != size:
            raise SearchSpaceError(
                one_line(
                    f"{path}: {flags['trials']} {overrides['trials']}: sampler grid runs each of its {size} points once, "
                    f"so its trials are fixed at {size}; expected no {flags['trials']} (or {size})"
                )
            )
    # What the file counts in epochs and trials, named from the override's side (SweepSpec._within_the_budget).
    grace, top_k = spec.scheduler.grace_period, spec.final.top_k
    if (
        overrides.get("epochs", grace) < grace
        and spec.scheduler.type == "asha"
        and "grace_period" in spec.scheduler.model_fields_set
    ):
        raise SearchSpaceError(
            one_line(
                f"{path}: {flags['epochs']} {overrides['epochs']}: fewer epochs than scheduler.grace_period {grace} "
                f"(ASHA compares trials after grace_period epochs); expected {flags['epochs']} of at least {grace}"
            )
        )
    if overrides.get("trials", top_k) < top_k and spec.final.repeats:
        raise SearchSpaceError(
            one_line(
                f"{path}: {flags['trials']} {overrides['trials']}: fewer trials than final.top_k {top_k} (the best "
                f"configurations re-run after the search); expected {flags['trials']} of at least {top_k}"
            )
        )
    if not overrides:
        return spec
    try:
        # What the file left unset stays unset, so a default (the grace period) is fitted to the new budget.
        unset_left_out = spec.model_dump(exclude_unset=True)
        return SweepSpec.model_validate({**unset_left_out, "budget": {**spec.budget.model_dump(), **overrides}})
    except ValidationError as error:
        named = ", ".join(f"{flags[key]} {value}" for key, value in overrides.items())
        raise SearchSpaceError(one_line(f"{path}: {named}: {explain(error, SweepSpec)}")) from None
