"""The one interface every method implements: a batch of windows -> loss (+ per-step hooks).

The worker loop hands every method the same thing each step, a :class:`PretextBatch` (the raw windows, a
way to draw augmented views of them, and labels for the methods that train on labels), and gets back a
:class:`StepOutput`. What a method does with the batch is its own business:

- joint-embedding methods (Barlow Twins, VICReg, SimCLR, W-MSE, triplet) draw ``n_views`` views, embed each
  with backbone + projector (:meth:`SSLMethod.embed_views`) and implement only :meth:`SSLMethod.loss`;
- methods with a predictor or a momentum target (BYOL, SimSiam, MoCo) override :meth:`SSLMethod.forward`;
- methods that read the raw sequence (CPC, TNC, masked reconstruction) override ``forward`` and ignore
  the views; the supervised baseline sets ``uses_labels`` and reads ``batch.labels``.

The shared base owns the backbone and the projector (solo-learn's ``BaseMethod`` idea). State a method adds
(target networks, queues) must be submodules or buffers, so it is part of ``state_dict()`` and therefore of
every checkpoint. Adding a method is one module in this package decorated with ``@METHODS.register("name")``
plus its import line in ``methods/__init__.py``.

The interface is checked when a method class is defined (:func:`check_method_class`, run by
``SSLMethod.__init_subclass__`` and again by ``METHODS.register``), so a method that cannot work fails at
import, not in a trial: it must implement ``loss`` or ``forward``, set ``Params`` (a :class:`MethodParams`
subclass) and ``domains`` (a tuple of domain names), and give the other declarations the types they are read
with. ``abc.abstractmethod`` would not do: it lets a class with a missing hook be defined and fails only when
the class is instantiated (in a trial), and it cannot say "one of ``loss`` or ``forward``".
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from selfsup.backbones.base import VectorBackbone
from selfsup.data.windows import Windows
from selfsup.heads import ProjectionHead
from selfsup.registry import Registry


class MethodParams(BaseModel):
    """Method-specific hyperparameters; subclasses add fields (all of them searchable by name)."""

    # No hyperparameter means anything at infinity or NaN (fixed: {lambda_offdiag: .inf}, a choice of .nan).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# A method's own hyperparameters (``SSLMethod[MoCoParams]``): the type of its ``params`` and of the ``params``
# its ``check_pretext_data`` is given.
ParamsT = TypeVar("ParamsT", bound=MethodParams)


@runtime_checkable
class LabelFractionParams(Protocol):
    """The hyperparameter of every method with ``uses_labels``: the fraction of the labelled training units it
    trains on (``selfsup.pretrain.training_windows``)."""

    label_fraction: float


@dataclass
class ProjectorSpec:
    output_dim: int = 512
    layers: int = 2
    hidden_dim: int | None = None


@dataclass(frozen=True)
class DataShape:
    """What a method may need to know about the data when it is built (e.g. the class count of the supervised
    baseline, the window length of a method that predicts along time)."""

    n_channels: int
    window_length: int  # time steps of a window (images and seismic: the width of the stored examples)
    n_classes: int
    height: int | None = None  # images and seismic: the height of the stored examples; None for time series


@dataclass
class PretextBatch:
    """One training step's input, the same for every method.

    ``x``: (B, C, T) windows on the training device (images and seismic patches: (B, C, H, W)).
    ``augment(x, n)`` returns ``n`` independently augmented views of any such tensor (the trial's augmentation
    pipeline and random stream, from its domain: views of images and seismic patches are ``input_size``
    crops, so they may be smaller than ``x``). ``labels``: (B,) class
    indices, only for methods with ``uses_labels`` (None otherwise). ``index``: (B,) positions of the windows
    in ``windows``, the method's whole training set, whose ``series`` and ``starts`` say where each window was
    cut (for methods that draw more windows around it, e.g. TNC's neighbours).
    """

    x: torch.Tensor
    augment: Callable[[torch.Tensor, int], list[torch.Tensor]]
    labels: torch.Tensor | None = None
    index: torch.Tensor | None = None
    windows: Windows | None = None

    def views(self, n: int) -> list[torch.Tensor]:
        return self.augment(self.x, n)


@dataclass
class StepOutput:
    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # logged as train/<term>


# Every data domain (``selfsup.domains``; tests/test_method_interface.py checks the list): the ``domains`` of the
# methods that only embed augmented views, which any backbone of any domain gives.
ALL_DOMAINS: tuple[str, ...] = ("timeseries", "images", "seismic")

# How many training windows ``SSLMethod.initialise_from_data`` receives at most.
DATA_SAMPLE_SIZE = 1000


class SSLMethod(nn.Module, Generic[ParamsT]):
    """The interface of every method; see the module docstring. Not instantiated itself. Subclasses name their
    hyperparameters twice: ``class MoCo(SSLMethod[MoCoParams])`` types ``params``, ``Params = MoCoParams``
    is read at run time (a ClassVar cannot hold a type variable)."""

    # Required (no default): the method's hyperparameters, and the data domains it can train on
    # (``selfsup.domains``): methods that read time along the last axis (CPC, TNC, masked reconstruction) are
    # time-series only. Checked when the class is defined (``check_method_class``).
    Params: ClassVar[type[MethodParams]]
    domains: ClassVar[tuple[str, ...]]
    # A class default an instance may override (W-MSE draws 2 or 4 views, as its params say).
    n_views: int = 2
    # Trains on labelled downstream windows (the supervised baseline) instead of the unlabelled pretext ones.
    uses_labels: ClassVar[bool] = False
    # Whether the shared projection head is built (CPC, TNC, LFR and masked reconstruction have heads of their
    # own; a projector nobody uses would only cost memory and break DDP, which expects every parameter used).
    uses_projector: ClassVar[bool] = True
    # Whether some steps leave parameters without gradients on purpose (e.g. LFR's predictor-only steps).
    # DDP must then look for unused parameters after each backward pass, which costs a graph traversal.
    skips_parameters_on_some_steps: ClassVar[bool] = False
    # The hyperparameters ``check_pretext_data`` reads (method or shared ones, e.g. batch_size), besides the
    # windows themselves: the searched ones are checked in every combination of their extremes, with every
    # searched input size (``trainables.sweep.drawn_configurations``). None: it may read any of them.
    pretext_check_params: ClassVar[frozenset[str] | None] = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        check_method_class(cls)

    def __init__(
        self, backbone: nn.Module, projector: ProjectorSpec, params: ParamsT, data: DataShape | None = None
    ) -> None:
        if type(self) is SSLMethod:
            raise TypeError("SSLMethod is the interface of the methods; build one of METHODS instead")
        super().__init__()
        self.data_shape = data
        self.backbone = backbone
        # nn.Module: the supervised baseline puts its classifier (a Linear) here.
        self.projector: nn.Module | None = None
        if self.uses_projector:
            if not isinstance(backbone, VectorBackbone):
                raise AttributeError(f"backbone {type(backbone).__name__} has no output_dim")
            self.projector = ProjectionHead(
                backbone.output_dim, projector.output_dim, projector.layers, projector.hidden_dim
            )
        self.params = params

    def forward(self, batch: PretextBatch) -> StepOutput:
        """One training step. The default is the joint-embedding step: ``loss`` on the embedded views."""
        return self.loss(self.embed_views(batch.views(self.n_views)))

    def embed_views(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """Backbone + projector of each view, one pass per view (BatchNorm statistics per view), as the
        official Barlow Twins, VICReg, BYOL and SimSiam code does."""
        if len(views) != self.n_views:
            raise ValueError(f"{type(self).__name__} expects {self.n_views} views, got {len(views)}")
        assert self.projector is not None, "the default forward needs uses_projector (check_method_class)"
        return [self.projector(self.backbone(view)) for view in views]

    def loss(self, embeddings: list[torch.Tensor]) -> StepOutput:
        """The joint-embedding loss of the ``n_views`` projected views (used by the default ``forward``)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither loss() nor forward()")

    def initialise_from_data(self, sample: torch.Tensor) -> None:
        """Hook run once after construction, before any checkpoint is restored and before DDP wraps the model,
        with ``sample``: up to ``DATA_SAMPLE_SIZE`` training windows (B, C, T) drawn with the trial's seed, the
        same on every rank (e.g. LFR picks diverse random projectors on it). The default does nothing."""

    def ddp_options(self) -> dict:
        """Keyword arguments for ``DistributedDataParallel`` when this method trains on several workers."""
        return {"find_unused_parameters": True} if self.skips_parameters_on_some_steps else {}

    def after_optimizer_step(self, progress: float) -> None:
        """Hook run after every optimiser step; ``progress`` in [0, 1] (e.g. an EMA momentum schedule)."""

    @classmethod
    def check_pretext_data(cls, params: ParamsT, windows: Windows, shared) -> None:
        """Raise ValueError when ``params`` (with the shared ``TrialParams`` ``shared``: batch size, backbone)
        cannot work on these training ``windows`` (e.g. a MoCo queue larger than the data set, a TNC window
        longer than half a series, a CPC horizon beyond the backbone's latent sequence). Called before a
        sweep starts, for every combination of the extremes of the searched input sizes and of the searched
        ``pretext_check_params`` it can draw; the default accepts anything."""

    @classmethod
    def constrains_data(cls) -> bool:
        """Whether ``check_pretext_data`` is overridden (then the data is prepared before the sweep to check)."""
        # mypy types a bound classmethod as a plain callable, without the __func__ every bound method has.
        overridden = cls.check_pretext_data.__func__  # type: ignore[attr-defined]
        return overridden is not SSLMethod.check_pretext_data.__func__  # type: ignore[attr-defined]


# The hooks of which a method implements at least one, and where each is used.
_STEP_HOOKS = "loss(embeddings) (joint-embedding methods, run by the default forward) or forward(batch)"


def check_method_class(cls: type) -> None:
    """TypeError, naming ``cls`` and what it lacks, unless it is a method class that can train: it implements
    ``loss`` or ``forward``, sets ``Params`` and ``domains``, and every declaration has the type it is read
    with. Run on every ``SSLMethod`` subclass when it is defined, and by ``METHODS.register``."""
    if not (isinstance(cls, type) and issubclass(cls, SSLMethod)):
        raise TypeError(f"{cls!r} is not an SSLMethod subclass")
    where = f"method class {cls.__module__}.{cls.__qualname__}"
    if cls.forward is SSLMethod.forward and cls.loss is SSLMethod.loss:
        raise TypeError(f"{where} implements neither of its step hooks: {_STEP_HOOKS}")
    missing = [name for name in ("Params", "domains") if not hasattr(cls, name)]
    if missing:
        raise TypeError(
            f"{where} does not set {' or '.join(missing)} (Params: its MethodParams subclass; domains: the data "
            "domains it trains on, e.g. ('timeseries',))"
        )
    if not (isinstance(cls.Params, type) and issubclass(cls.Params, MethodParams)):
        raise TypeError(f"{where}: Params must be a MethodParams subclass, got {cls.Params!r}")
    domains = cls.domains
    if not (isinstance(domains, tuple) and domains and all(isinstance(domain, str) for domain in domains)):
        raise TypeError(f"{where}: domains must be a non-empty tuple of domain names, got {domains!r}")
    if type(cls.n_views) is not int or cls.n_views < 1:
        raise TypeError(f"{where}: n_views must be a positive int, got {cls.n_views!r}")
    for flag in ("uses_labels", "uses_projector", "skips_parameters_on_some_steps"):
        if not isinstance(getattr(cls, flag), bool):
            raise TypeError(f"{where}: {flag} must be True or False, got {getattr(cls, flag)!r}")
    checked = cls.pretext_check_params
    if checked is not None and not (isinstance(checked, frozenset) and all(isinstance(k, str) for k in checked)):
        raise TypeError(f"{where}: pretext_check_params must be None or a frozenset of names, got {checked!r}")
    if cls.forward is SSLMethod.forward and not cls.uses_projector:
        raise TypeError(
            f"{where} sets uses_projector = False but keeps the default forward, which embeds the views with the "
            "shared projector; override forward"
        )
    for hook in ("check_pretext_data", "constrains_data"):
        if not isinstance(inspect.getattr_static(cls, hook), classmethod):
            raise TypeError(f"{where}: {hook} must be a classmethod (it runs before any model is built)")


def _check_registered_method(name: str, entry: object) -> None:
    if not (isinstance(entry, type) and issubclass(entry, SSLMethod)):
        raise TypeError(f"method '{name}': {entry!r} is not an SSLMethod subclass")
    check_method_class(entry)  # again: a subclass's own __init_subclass__ may not have called ours


METHODS: Registry[type[SSLMethod]] = Registry("method", check_entry=_check_registered_method)
