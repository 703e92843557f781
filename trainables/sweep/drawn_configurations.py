"""Every configuration a search can draw, tried against the sweep's data before Ray starts.

A method that puts limits on its data (``SSLMethod.check_pretext_data``: a CPC horizon within the window, a
W-MSE whitening block within the batch) is checked at every combination of the searched extremes that can
change its verdict, so a configuration that cannot train is refused in one line instead of failing in a trial.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Callable

from selfsup.data.prepared import PreparedData
from selfsup.messages import first_message
from selfsup.methods import METHODS, SSLMethod
from selfsup.pretrain import training_windows
from trainables.searchspace import SweepSpec, split_trial_params

#: The most combinations of searched extremes ``check_method_fits_data`` checks one by one. The product runs only
#: over the dimensions that can change the check (the method's ``pretext_check_params``, and those that change
#: the data, such as a searched window length), so real sweeps stay far below it (the shipped ones: at most 24).
MAX_CHECKED_COMBINATIONS = 4096


def _keys_that_matter(spec: SweepSpec, method: type[SSLMethod], extremes: dict[str, list], base: dict) -> list[str]:
    """The searched dimensions whose values can change ``method.check_pretext_data``'s verdict: those it reads
    (``SSLMethod.pretext_check_params``; every one when it declares none), those that change the prepared data
    (``Domain.data_arguments``: a searched window length), and the label fraction of a method trained on labels."""
    declared = method.pretext_check_params
    reference = spec.domain.data_arguments(spec.data, spec.seed, base)

    def changes_data(key: str) -> bool:
        return any(
            spec.domain.data_arguments(spec.data, spec.seed, {**base, key: value}) != reference
            for value in extremes[key]
        )

    return [
        key
        for key in spec.search
        if declared is None or key in declared or (method.uses_labels and key == "label_fraction") or changes_data(key)
    ]


def _one_line(error: Exception) -> str:
    return " ".join(first_message(error).split())


def check_method_fits_data(spec: SweepSpec, prepared: Callable[[dict], PreparedData]) -> None:
    """ValueError when a configuration the sweep can draw cannot work on the data (before Ray starts).

    ``prepared(params)``: the sweep's data for a trial with hyperparameters ``params`` (a searched input
    size changes it; ``Domain.data_arguments``); the caller caches it per input size.

    Every combination of the searched dimensions' extremes is checked, not each dimension alone: a CPC horizon
    that fits the longest searched window can be drawn with the shortest one, a W-MSE whitening block that fits
    the largest batch with the smallest. The product runs over the dimensions that can change the verdict
    (``_keys_that_matter``), the others at their first extreme; the message names the combination. Should it
    exceed ``MAX_CHECKED_COMBINATIONS`` (a method that declares no ``pretext_check_params`` and a wide
    search), each dimension's extremes are checked with the others at their first extreme, with a warning.
    """
    method = METHODS.get(spec.method)
    extremes = {key: dim.drawable_extremes() for key, dim in spec.search.items()}
    base = {**spec.default_params(), **{key: values[0] for key, values in extremes.items()}}
    keys = _keys_that_matter(spec, method, extremes, base)
    count = math.prod(len(extremes[key]) for key in keys)
    if count <= MAX_CHECKED_COMBINATIONS:
        combinations = [dict(zip(keys, values)) for values in itertools.product(*(extremes[key] for key in keys))]
    else:
        warnings.warn(
            f"{count} combinations of the searched extremes of {', '.join(keys)} exceed "
            f"{MAX_CHECKED_COMBINATIONS}: method '{spec.method}' is checked against each dimension's "
            f"extremes alone",
            stacklevel=2,
        )
        combinations = [{}] + [{key: value} for key in keys for value in extremes[key]]
    for drawn in combinations:
        try:
            shared, own = split_trial_params(spec.method, {**base, **drawn}, spec.domain.name)
        except ValueError as error:  # a model validator across two searched fields
            raise ValueError(f"{_drawn_together(drawn)}{_one_line(error)}") from None
        windows = training_windows(
            method,
            own,
            prepared(shared.model_dump()),
            spec.evaluation.unit,
            spec.seed,
            spec.evaluation.refit_on_validation,
        )
        try:
            method.check_pretext_data(own, windows, shared)
        except ValueError as error:
            raise ValueError(f"{_drawn_together(drawn)}{_one_line(error)}") from None


def _drawn_together(drawn: dict) -> str:
    """How a refusal names the searched values that were drawn together ("" when nothing searched matters)."""
    if not drawn:
        return ""
    named = ", ".join(f"{key}={value}" for key, value in drawn.items())
    return f"the search can draw {named}{' together' if len(drawn) > 1 else ''}: "
