"""SSL methods registered by name (see ``base.py`` for the interface). One import line per method."""

from selfsup.methods import (  # noqa: F401  (registration side effects)
    barlow_twins,
    byol,
    cpc,
    lfr,
    masked_reconstruction,
    moco,
    simclr,
    simsiam,
    supervised,
    tnc,
    triplet,
    vicreg,
    wmse,
)
from selfsup.methods.base import (
    ALL_DOMAINS,
    METHODS,
    DataShape,
    MethodParams,
    PretextBatch,
    ProjectorSpec,
    SSLMethod,
    StepOutput,
)

__all__ = [
    "ALL_DOMAINS",
    "METHODS",
    "DataShape",
    "MethodParams",
    "PretextBatch",
    "ProjectorSpec",
    "SSLMethod",
    "StepOutput",
]
