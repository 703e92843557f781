"""SSL methods registered by name (see ``base.py`` for the interface). One import line per method."""

from selfsup.methods import (  # noqa: F401
    barlow_twins,
    byol,
    cpc,
    lfr,
    masked_reconstruction,
    moco,
    simclr,  # registration side effects
    simsiam,
    supervised,
    tnc,
    triplet,
    vicreg,
    wmse,
)
from selfsup.methods.base import METHODS, DataShape, MethodParams, PretextBatch, ProjectorSpec, SSLMethod, StepOutput

__all__ = ["METHODS", "DataShape", "MethodParams", "PretextBatch", "ProjectorSpec", "SSLMethod", "StepOutput"]
