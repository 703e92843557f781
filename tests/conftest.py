"""Test setup: the repository root (for tune.py and trainables) and ssl/ (for selfsup) on sys.path, so
the suite also runs from a checkout that was not pip-installed. ssl/ itself stays a plain folder."""

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
