"""A search-space file to a sweep ready to run: every check that can be made before Ray starts, made once, for
the run, the dry run and each sweep of a nightly run alike.

Bad input is one line (``SearchSpaceError``, exit code 2 in ``tune.py``) naming the file, before anything is
recorded: the file and its schema, budget overrides, what one trial asks of this machine, and, where the data
is read (not in the dry run), the data and every configuration the search can draw against it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from trainables.searchspace import SearchSpaceError, SweepSpec, load_sweep, one_line, override_budget
from trainables.sweep.resources import check_local_resources


def prepare_sweep(
    path: str | Path,
    *,
    trials: int | None = None,
    epochs: int | None = None,
    flags: dict[str, str] | None = None,
    read_data: bool = True,
) -> SweepSpec:
    """The validated sweep of ``path``, ``trials`` / ``epochs`` overriding its budget (named ``flags`` in
    messages: the command-line flags by default), or ``SearchSpaceError``.

    ``read_data``: the data is checked (``Domain.check_data``) and every input size and configuration the search
    can draw is tried against it (``check_configurations_fit_data``). Without it (the dry run) only what needs
    no data files: the input sizes against the data shipped with the installed packages or made from the
    file (``DataSource.bundled``).
    """
    spec = override_budget(load_sweep(path), path, trials, epochs, flags)
    try:
        # GPUs, CPUs or memory asked of a machine without them, before a local Ray starts (dry run too).
        check_local_resources(spec)
        if read_data:
            spec.domain.check_data(spec.data)
        for name, each in spec.method_specs().items():
            try:
                if read_data:
                    check_configurations_fit_data(each)
                else:
                    each.check_input_sizes(bundled_only=True)
            except ValueError as error:  # named after its method where the sweep has several
                raise (ValueError(f"methods.{name}: {error}") if spec.methods is not None else error) from None
    except SearchSpaceError:
        raise
    except ValueError as error:  # ResourceError, DataError, a configuration the data cannot hold
        raise SearchSpaceError(one_line(f"{path}: {error}")) from None
    return spec


def check_configurations_fit_data(spec: SweepSpec) -> None:
    """Every input size the sweep can draw against its data (``Domain.check_input_sizes``: no window longer
    than every series), then the data prepared (once per input size) and every combination of the searched
    extremes tried, only for a method that puts limits on its data (``SSLMethod.check_pretext_data``)."""
    from selfsup.methods import METHODS
    from trainables.sweep.drawn_configurations import check_method_fits_data
    from trainables.trial.data_cache import data_request, prepare_requested

    spec.check_input_sizes()
    if METHODS.get(spec.method).constrains_data():
        prepared = functools.cache(prepare_requested)
        check_method_fits_data(spec, lambda params: prepared(data_request(spec, params)))
