"""Fixtures for refusals that must come before Ray starts, run in the test's own process (``tune.main``) with
``run_sweep`` replaced by a tripwire, so a check that lets the input through fails the test instead of starting
Ray (and ``conftest.py`` fails any test that leaves Ray initialised).

``refused`` writes a search-space dict as YAML under ``tmp_path`` and runs it (the real run, or ``--dry-run``)
with the stores in a temporary home. ``tune_cli`` runs any ``tune.py`` command line. Each command's refusals
keep at least one test through a fresh ``python tune.py`` process, which alone proves what a user's shell sees
(nothing else on stderr, the exit code of the process); the other cases of a family go through these fixtures
and skip the 3-4 s of a fresh process's imports. Import them into a test module
(``from before_ray import refused, tune_cli``) to use them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import yaml


@dataclass(frozen=True)
class Ran:
    """What a ``tune.py`` command line returned and printed (the fields of ``subprocess.CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


def _tripwire(*args, **kwargs):
    raise AssertionError("the input got past every check: run_sweep (Ray) was reached")


@pytest.fixture
def tune_cli(monkeypatch, capsys):
    """``tune_cli(*argv, env={NAME: value or None}) -> Ran``: ``tune.main(argv)`` with the variables set (None:
    removed) for this test only, and what it printed. An argparse refusal (``SystemExit``) counts as its code."""
    import trainables.sweep.driver
    import tune

    monkeypatch.setattr(trainables.sweep.driver, "run_sweep", _tripwire)

    def run(*argv, env: dict[str, str | None] | None = None) -> Ran:
        for name, value in (env or {}).items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        capsys.readouterr()
        try:
            code = tune.main([str(arg) for arg in argv])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@pytest.fixture
def refused(monkeypatch, tmp_path, capsys):
    """``refused(spec, dry_run=False) -> str``: the one line tune.py printed, after asserting exit code 2, one
    line, the ``error: <file>: `` prefix, and that Ray (``run_sweep``) was never reached."""
    import trainables.sweep.driver
    import tune

    monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(trainables.sweep.driver, "run_sweep", _tripwire)
    count = iter(range(1000))

    def run(spec: dict, dry_run: bool = False) -> str:
        path = tmp_path / f"sweep{next(count)}.yaml"
        path.write_text(yaml.safe_dump(spec))
        capsys.readouterr()
        code = tune.main([str(path), *(["--dry-run"] if dry_run else [])])
        err = capsys.readouterr().err.strip()
        assert code == 2, f"exit code {code}, stderr: {err}"
        assert err.count("\n") == 0, f"expected one line, got: {err}"
        assert err.startswith(f"error: {path}: "), err
        return err.removeprefix(f"error: {path}: ")

    return run
