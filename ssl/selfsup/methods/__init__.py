"""SSL methods registered by name (see ``base.py`` for the interface). One import line per method."""
from selfsup.methods.base import METHODS, MethodParams, ProjectorSpec, SSLMethod, StepOutput
from selfsup.methods import barlow_twins, vicreg  # noqa: F401  (registration side effect)

__all__ = ["METHODS", "MethodParams", "ProjectorSpec", "SSLMethod", "StepOutput"]
