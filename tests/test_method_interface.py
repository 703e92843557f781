"""The interfaces registered by name: a method or backbone class that lacks a hook or a declaration fails with a
TypeError naming it and what it lacks when it is defined or registered (at import), not in a trial; and the
name registry itself (class entries, duplicates, refused entries)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selfsup.backbones import BACKBONES
from selfsup.backbones.base import check_backbone_class
from selfsup.methods import ALL_DOMAINS, METHODS, MethodParams, ProjectorSpec, SSLMethod, StepOutput
from selfsup.registry import Registry, UnknownNameError


class _ToyParams(MethodParams):
    pass


class _Encoder(nn.Module):
    domains = ("timeseries",)

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_channels, 4)
        self.output_dim = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(dim=-1))


@pytest.fixture
def scratch_registries(monkeypatch):
    """METHODS and BACKBONES as they are, restored after the test, so an entry a broken check lets through
    cannot leak into other tests."""
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    monkeypatch.setattr(BACKBONES, "_entries", dict(BACKBONES._entries))


def test_a_method_with_neither_step_hook_fails_when_defined():
    with pytest.raises(TypeError, match=r"NoStep implements neither .*loss\(embeddings\).* or forward\(batch\)"):

        class NoStep(SSLMethod):
            Params = _ToyParams
            domains = ("timeseries",)


@pytest.mark.parametrize("missing", ["Params", "domains"])
def test_a_method_without_a_required_declaration_fails_when_defined(missing):
    body = {"Params": _ToyParams, "domains": ("timeseries",), "loss": lambda self, embeddings: None}
    del body[missing]
    with pytest.raises(TypeError, match=rf"method class .*\.Undeclared does not set {missing} "):
        type("Undeclared", (SSLMethod,), body)


@pytest.mark.parametrize(
    "declaration,value,words",
    [
        ("Params", dict, "Params must be a MethodParams subclass, got <class 'dict'>"),
        ("domains", "timeseries", "domains must be a non-empty tuple of domain names, got 'timeseries'"),
        ("domains", (), "domains must be a non-empty tuple of domain names, got ()"),
        ("n_views", 0, "n_views must be a positive int, got 0"),
        ("uses_labels", "yes", "uses_labels must be True or False, got 'yes'"),
        ("pretext_check_params", {"batch_size"}, "pretext_check_params must be None or a frozenset of names"),
        ("check_pretext_data", lambda params, windows, shared: None, "check_pretext_data must be a classmethod"),
    ],
)
def test_a_declaration_of_the_wrong_type_fails_when_defined(declaration, value, words):
    body = {"Params": _ToyParams, "domains": ("timeseries",), "loss": lambda self, embeddings: None}
    body[declaration] = value
    with pytest.raises(TypeError, match="Mistyped: " + words.replace("(", r"\(").replace(")", r"\)")):
        type("Mistyped", (SSLMethod,), body)


def test_a_method_without_the_projector_must_override_forward():
    with pytest.raises(TypeError, match="NoProjector sets uses_projector = False but keeps the default forward"):

        class NoProjector(SSLMethod):
            Params = _ToyParams
            domains = ("timeseries",)
            uses_projector = False

            def loss(self, embeddings):
                return StepOutput(embeddings[0].sum())


def test_a_complete_method_is_accepted_and_trains_without_being_registered():
    class ForwardOnly(SSLMethod):
        Params = _ToyParams
        domains = ("timeseries",)
        uses_projector = False

        def forward(self, batch):
            return StepOutput(self.backbone(batch.x).pow(2).mean())

    class LossOnly(SSLMethod):
        Params = _ToyParams
        domains = ("timeseries",)

        def loss(self, embeddings):
            return StepOutput((embeddings[0] - embeddings[1]).pow(2).mean())

    class ChildOfAMethod(LossOnly):  # inherits the hook and the declarations
        n_views = 2

    from selfsup.methods import PretextBatch

    batch = PretextBatch(torch.randn(4, 3, 8), lambda x, n: [x + i for i in range(n)])
    for cls in (ForwardOnly, LossOnly, ChildOfAMethod):
        model = cls(_Encoder(3), ProjectorSpec(8, 2), cls.Params())
        assert model(batch).loss.ndim == 0
        assert cls not in [METHODS.get(name) for name in METHODS]  # defining a class registers nothing


def test_the_interface_itself_is_not_a_method():
    with pytest.raises(TypeError, match="SSLMethod is the interface of the methods"):
        SSLMethod(_Encoder(3), ProjectorSpec(8, 2), _ToyParams())


def test_methods_register_only_method_classes(scratch_registries):
    class NotAMethod(nn.Module):
        Params = _ToyParams
        domains = ("timeseries",)

        def loss(self, embeddings):
            return StepOutput(embeddings[0].sum())

    with pytest.raises(TypeError, match="method 'not_a_method': .*NotAMethod.* is not an SSLMethod subclass"):
        METHODS.register("not_a_method")(NotAMethod)
    assert "not_a_method" not in METHODS


def test_every_registered_method_declares_domains_that_exist():
    from selfsup.domains import DOMAINS

    assert set(ALL_DOMAINS) == set(DOMAINS.names())
    for name in METHODS:
        assert set(METHODS.get(name).domains) <= set(DOMAINS.names()), name


@pytest.mark.parametrize(
    "body,words",
    [
        ({"forward": _Encoder.forward}, r"backbone 'broken' \(.*Broken\) does not set domains"),
        ({"forward": _Encoder.forward, "domains": "images"}, "domains must be a non-empty tuple .*got 'images'"),
        ({"domains": ("images",)}, r"backbone 'broken' \(.*Broken\) does not implement forward"),
    ],
)
def test_backbones_refuse_a_class_that_does_not_fit(scratch_registries, body, words):
    with pytest.raises(TypeError, match=words):
        BACKBONES.register("broken")(type("Broken", (nn.Module,), body))
    assert "broken" not in BACKBONES
    with pytest.raises(TypeError, match="backbone 'fn': <function .* is not an nn.Module class"):
        BACKBONES.register("fn")(lambda in_channels: _Encoder(in_channels))


def test_every_registered_backbone_fits_its_interface():
    for name in BACKBONES:
        check_backbone_class(name, BACKBONES.get(name))
    from selfsup.backbones import base

    assert BACKBONES is base.BACKBONES  # one registry, defined in base.py and re-exported


def test_a_registry_holds_classes_registered_with_the_decorator():
    def refuse_lowercase(name: str, entry: type) -> None:
        if not entry.__name__[0].isupper():
            raise TypeError(f"thing '{name}': {entry.__name__} is not capitalised")

    things: Registry[type] = Registry("thing", check_entry=refuse_lowercase)

    @things.register("first")
    class First:
        pass

    assert First.__name__ == "First" and things.get("first") is First  # the decorator returns the class
    with pytest.raises(ValueError, match="thing 'first' is registered twice"):
        things.register("first")(type("Other", (), {}))
    assert things.get("first") is First
    with pytest.raises(TypeError, match="thing 'second': second is not capitalised"):
        things.register("second")(type("second", (), {}))
    assert things.names() == ["first"] and list(things) == ["first"] and "second" not in things
    with pytest.raises(UnknownNameError, match="^unknown thing 'third'; known: first$"):
        things.get("third")
    with pytest.raises(ValueError, match="unknown thing"):  # pydantic validators see a ValueError
        things.check("third")
    assert things.check("first") == "first"
