"""SSL methods registered by name (see ``base.py`` for the interface). One import line per method."""
from selfsup.methods.base import METHODS, DataShape, MethodParams, PretextBatch, ProjectorSpec, SSLMethod, StepOutput
from selfsup.methods import (barlow_twins, byol, cpc, lfr, masked_reconstruction, moco,  # noqa: F401
                             simclr, simsiam, supervised, tnc, triplet, vicreg, wmse)  # registration side effects

__all__ = ["METHODS", "DataShape", "MethodParams", "PretextBatch", "ProjectorSpec", "SSLMethod", "StepOutput"]
