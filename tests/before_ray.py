"""Fixtures for refusals that must come before Ray starts, run in the test's own process (``tune.main``) with
``run_sweep`` replaced by a tripwire, so a check that lets the input through fails the test instead of starting
Ray (and ``conftest.py`` fails any test that leaves Ray initialised).

``tune_cli`` runs any ``tune.py`` command line with the stores in a temporary home; ``refused`` writes a
search-space dict as YAML under ``tmp_path`` and runs it (the real run, or ``--dry-run``) through ``tune_cli``.
Each command's refusals keep one case, the one that gets furthest, in a fresh ``python tune.py`` process
(``fresh_or_in_process``, ``run_fresh``), which alone proves all that a user's shell sees; the other cases skip
the 3-4 s of a fresh process's imports. Import the fixtures into a test module (``from before_ray import
refused, tune_cli``; ``refused`` needs ``tune_cli`` beside it) to use them."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Ran:
    """What a ``tune.py`` command line returned and printed (the fields of ``subprocess.CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


def _tripwire(*args, **kwargs):
    # pytest.fail, not an exception a command's own error handling could catch (tune.py nightly ends each sweep's
    # failure as a line and goes on).
    pytest.fail("the input got past every check: run_sweep (Ray) was reached")


class _WarningLines(logging.Handler):
    """What Python's last-resort handler would print to a fresh process's stderr: records of WARNING and above
    that reach the root logger (pytest's own handlers keep them off ``capsys``)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def tune_cli(monkeypatch, capsys, tmp_path):
    """``tune_cli(*argv, env={NAME: value or None}) -> Ran``: ``tune.main(argv)`` and what it printed, with the
    stores in a temporary home (SSLSWEEP_HOME under ``tmp_path``; MLFLOW_TRACKING_URI and RAY_ADDRESS unset)
    unless ``env`` says otherwise (None: unset). The variables stay so for the rest of the test.

    Its stderr also holds what a fresh process would print there and ``capsys`` cannot see: warnings (as Python
    prints them) and log records of WARNING and above, so a one-line check still fails on an extra line. An
    argparse refusal (``SystemExit``) counts as the exit code a process would have had."""
    import trainables.sweep.driver
    import tune

    monkeypatch.setattr(trainables.sweep.driver, "run_sweep", _tripwire)
    monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def run(*argv, env: dict[str, str | None] | None = None) -> Ran:
        for name, value in (env or {}).items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        capsys.readouterr()
        logged = _WarningLines()
        logging.getLogger().addHandler(logged)
        try:
            with warnings.catch_warnings(record=True) as warned:
                try:
                    code = tune.main([str(arg) for arg in argv])
                except SystemExit as exit_:  # as sys.exit would end a process
                    code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        finally:
            logging.getLogger().removeHandler(logged)
        out, err = capsys.readouterr()
        printed_elsewhere = [
            *(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in warned),
            *(line + "\n" for line in logged.lines),
        ]
        return Ran(code, out, err + "".join(printed_elsewhere))

    return run


def run_fresh(argv: list, env: dict[str, str | None], *, timeout: float = 300) -> Ran:
    """``python tune.py ARGV`` in a fresh process, from the repository root, with ``env`` over this process's
    variables (None: unset)."""
    return _python(["tune.py", *map(str, argv)], env, timeout)


def _python(args: list[str], env: dict[str, str | None], timeout: float) -> Ran:
    variables = {**os.environ, **{name: value for name, value in env.items() if value is not None}}
    for name in (name for name, value in env.items() if value is None):
        variables.pop(name, None)
    run = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=variables,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Ran(run.returncode, run.stdout, run.stderr)


_COMMAND_END = "@@sslsweep-test: command ended with {}@@"


def run_fresh_in_turn(argvs: list[list], env: dict[str, str | None], *, timeout: float = 900) -> list[Ran]:
    """``python tune.py ARGV`` for each ARGV in turn, in one fresh process (as ``run_fresh``): the later commands skip
    the imports and Ray's start, as the sweeps of one ``tune.py nightly`` do. Each command's exit code and output,
    told apart by a line the process prints after each."""
    code = (
        "import json, sys, tune\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    code = tune.run(argv)\n"
        f"    for stream in (sys.stdout, sys.stderr): print({_COMMAND_END!r}.format(code), file=stream, flush=True)\n"
    )
    run = _python(["-c", code, json.dumps([[str(arg) for arg in argv] for argv in argvs])], env, timeout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    ends = re.compile(re.escape(_COMMAND_END).replace(r"\{\}", r"(-?\d+)") + "\n")
    outs, errs = ends.split(run.stdout), ends.split(run.stderr)
    assert len(outs) == len(errs) == 2 * len(argvs) + 1, run.stdout[-3000:] + run.stderr[-3000:]
    return [Ran(int(outs[2 * i + 1]), outs[2 * i], errs[2 * i]) for i in range(len(argvs))]


def fresh_or_in_process(
    tune_cli, argv: list, env: dict[str, str | None], *, fresh_process: bool, timeout: float = 300
) -> Ran:
    """``run_fresh(ARGV, env)`` or ``tune_cli(*ARGV, env=env)``: each command's refusal tests send one case,
    the one that gets furthest before refusing, through a fresh process, which alone shows all a user's shell
    would."""
    if fresh_process:
        return run_fresh(argv, env, timeout=timeout)
    return tune_cli(*argv, env=env)


@pytest.fixture
def refused(tune_cli, tmp_path):
    """``refused(spec, dry_run=False) -> str``: the one line tune.py printed, after asserting exit code 2, one
    line, the ``error: <file>: `` prefix, and that Ray (``run_sweep``) was never reached."""
    count = iter(range(1000))

    def run(spec: dict, dry_run: bool = False) -> str:
        path = tmp_path / f"sweep{next(count)}.yaml"
        path.write_text(yaml.safe_dump(spec))
        ran = tune_cli(path, *(["--dry-run"] if dry_run else []))
        err = ran.stderr.strip()
        assert ran.returncode == 2, f"exit code {ran.returncode}, stderr: {err}"
        assert err.count("\n") == 0, f"expected one line, got: {err}"
        assert err.startswith(f"error: {path}: "), err
        return err.removeprefix(f"error: {path}: ")

    return run
