"""``refused``: a fixture for refusals that must come before Ray starts. It writes a search-space dict as YAML
under ``tmp_path`` and runs ``tune.main`` on it (the real run, or ``--dry-run``) with the stores in a temporary
home and ``run_sweep`` replaced by a tripwire, so a check that lets the file through fails the test instead
of starting Ray. Import it into a test module (``from before_ray import refused``) to use it."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture
def refused(monkeypatch, tmp_path, capsys):
    """``refused(spec, dry_run=False) -> str``: the one line tune.py printed, after asserting exit code 2, one
    line, the ``error: <file>: `` prefix, and that Ray (``run_sweep``) was never reached."""
    import trainables.sweep.driver
    import tune

    monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def tripwire(*args, **kwargs):
        raise AssertionError("the file got past every check: run_sweep (Ray) was reached")

    monkeypatch.setattr(trainables.sweep.driver, "run_sweep", tripwire)
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
