"""Test setup: the repository root (for tune.py and trainables) and ssl/ (for selfsup) on sys.path, so
the suite also runs from a checkout that was not pip-installed. ssl/ itself stays a plain folder."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT / "ssl", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
