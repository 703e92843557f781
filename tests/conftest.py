"""Test setup: the repository root (for tune.py and trainables) and ssl/ (for selfsup) on sys.path, so
the suite also runs from a checkout that was not pip-installed (ssl/ itself stays a plain folder); the check that
no test leaves Ray running in pytest's process; and the one real sweep that two test modules share."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT / "ssl", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture(autouse=True)
def no_ray_left_in_the_test_process():
    """Sweeps run in subprocesses. Library code that starts Ray by itself (``ray.get_runtime_context()`` outside
    Ray does) would leave it running in the pytest process, under every later test that checks Ray never started."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
        pytest.fail("this test left Ray initialised in the pytest process")


@pytest.fixture(scope="session")
def ties_sweep(tmp_path_factory):
    """One real sweep that two test modules read (tests/test_sweep_e2e.py: ties and the grid; tests/test_registry.py:
    the Model Registry after a sweep): a 2 x 2 grid of Barlow Twins on BasicMotions in 4 trials of 2 epochs, two at a
    time, the best configuration repeated with two more training seeds and its backbone registered (a
    ``sweeps.RanSweep``); run once, when the first of them asks."""
    from sweeps import RanSweep, run_tune, sweep_file

    directory = tmp_path_factory.mktemp("ties")
    path = sweep_file(
        directory,
        "e2e-ties",
        search={
            "projector_dim": {"type": "categorical", "choices": [64, 128]},
            "batch_size": {"type": "int", "low": 16, "high": 32, "step": 16},
        },
        fixed={"backbone": "conv1d", "lr": 0.001},
        sampler="grid",
        budget={"trials": 4, "epochs": 2, "max_concurrent": 2},
        scheduler={"type": "fifo"},
        final={"repeats": 2, "top_k": 1, "registry": True},
        objective={"metric": "val/knn/acc/frac_1.0", "mode": "max"},
    )
    home = directory / "home"
    return RanSweep(path, home, run_tune(path, home))
