"""Why the training of one configuration cannot go on.

These are verdicts on the configuration, not accidents of the machine: the same configuration, seed and data, run
again from its last checkpoint, fails the same way. So the sweep side ends such a trial as failed, with the message
as its reason, instead of retrying it (``trainables/trial/worker.py``); an accident (a dead worker, an out-of-memory
kill) still reads as a crash and is retried. Under DDP every rank raises together (``distributed.first_failure``).
"""

from __future__ import annotations

import torch


class TrainingFailure(Exception):
    """The configuration cannot be trained on; see the subclasses."""


class NonFiniteLossError(TrainingFailure, FloatingPointError):
    """The loss became NaN or infinite."""


class NonFiniteEmbeddingsError(TrainingFailure, FloatingPointError):
    """The trained backbone embeds the evaluation data as NaN or infinite values (an update made its weights or
    activations overflow, though the losses before it were finite)."""


class SingularCovarianceError(TrainingFailure, ValueError):
    """A covariance that must be whitened has no Cholesky factor (rank-deficient or non-finite embeddings)."""


class CollapseError(TrainingFailure, RuntimeError):
    """The embeddings collapsed (every input maps to nearly the same vector)."""


def require_finite_embeddings(embeddings: torch.Tensor) -> torch.Tensor:
    """``embeddings``, or ``NonFiniteEmbeddingsError`` where any value is NaN or infinite."""
    if not torch.isfinite(embeddings).all():
        raise NonFiniteEmbeddingsError("the backbone embeds the evaluation data as NaN or infinite values")
    return embeddings
