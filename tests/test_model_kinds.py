"""The model-kind contract: a kind is one folder, and the loop runs any kind through it.

``tests/kinds/random_ae/`` is a third kind (fixed random weights, a parameter and a mode default of
its own) that exists nowhere else: put on the models package's search path, it is found, loaded
from a checkpoint, stepped, shown, switched to and from, and surveyed, with no edit outside it."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import app.models
from app.gl.output import OffscreenTarget
from app.gl.views import Views, natural_size
from app.loop.session import Session, full_registry
from app.models import kinds
from app.models.checkpoint import load, save
from conftest import ROOT


@pytest.fixture
def third_kind(monkeypatch):
    monkeypatch.setattr(app.models, "__path__", [*app.models.__path__, str(ROOT / "tests" / "kinds")])
    kinds.rediscover()
    yield kinds.get_kind("random-ae")
    kinds.rediscover()
    for name in [m for m in sys.modules if m.startswith("app.models.random_ae")]:
        del sys.modules[name]


def test_the_shipped_kinds_are_found_from_their_folders():
    assert {"autoencoder", "pvm"} <= set(kinds.all_kinds())


def test_a_new_kind_is_one_folder(gl, tmp_path, third_kind):
    model = third_kind.build({"widths": [4, 8], "seed": 1})
    path = save(model, tmp_path / "random.safetensors", {"description": "fixed random weights"})
    registry = full_registry()
    assert "random_ae.code_scale" in registry           # declared by the kind, beside every other kind's
    session = Session(gl, registry, load(str(path)), "shapes", 64, torch.device("cpu"), realtime=False)
    engine = session.engine
    assert registry["general.gain_down"] == 0.8         # its mode default, through the rule input's role
    assert engine.model.status() == "fixed random weights"
    for _ in range(5):
        engine.step()
    assert all(torch.isfinite(s).all() for s in engine.states)
    registry.set("random_ae.code_scale", 0.0)            # its own parameter reaches its drives
    engine.step()
    assert engine.drives.up[-1].abs().max() == 0 and engine.drives.up[0].abs().max() > 0

    width, height = natural_size("grid", engine.size, engine.n_layers)
    target = OffscreenTarget(gl, width, height)
    cells = Views(gl).render(engine.frame(), "grid", target.fbo)
    assert {"layer 2 state", "layer 2 bottom-up", "layer 2 top-down"} <= {c.label for c in cells}
    assert target.read().std() > 1
    target.release()

    session.switch_model("pvm-small")                    # to another kind and back, sizes change
    engine.step()
    assert engine.size == 60 and registry["general.gain_up"] == 1.0
    session.switch_model(load(str(path)))
    engine.step()
    assert engine.size == 64 and registry["general.gain_down"] == 0.8
    session.close()


def test_the_survey_dreams_a_new_kind(third_kind):
    from app.survey.survey import SurveyConfig, run_survey

    model = third_kind.build({"widths": [4, 8], "seed": 2})
    result = run_survey(model, SurveyConfig(starts=4, steps=12, size=32, batch=4))
    assert len(result.verdicts) == 4 and np.isfinite(result.end_frames).all()


def test_a_card_of_an_unknown_kind_is_one_line(tmp_path, third_kind):
    from app.errors import UserError

    path = save(third_kind.build({}), tmp_path / "orphan.safetensors", {})
    kinds.rediscover()
    app.models.__path__ = app.models.__path__[:-1]       # the folder is gone
    kinds.rediscover()
    with pytest.raises(UserError, match="no known architecture.kind"):
        load(str(path))
