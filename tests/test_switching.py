"""Switching live through the three shipped models, every source and two sizes, while dreaming,
paused and holding a frame, through the window's own actions (headless GL, the real engine)."""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import pytest
import torch

from app.gl.output import OffscreenTarget
from app.gl.views import Views, natural_size
from app.loop.session import Session
from app.ui import actions
from app.ui.explore import Explorer
from app.ui.state import AppState

SHIPPED = ("ae-tiny-smooth", "pvm-small", "pvm-paper")


def window_state(gl, tmp_path) -> AppState:
    args = argparse.Namespace(device="cpu", assignments=[], model="ae-tiny-smooth", size=64, source="sample", seed=0,
                              precision="fp32")
    session = Session.from_args(gl, args, realtime=False)
    return AppState(session=session, views=Views(gl), explorer=Explorer.for_engine(session.engine),
                    capture_dir=tmp_path)


def show_frames(state: AppState, frames: int = 3) -> list[np.ndarray]:
    """What the window's loop does per frame: a step unless paused, the explorer, every view drawn."""
    engine, drawn = state.engine, []
    for _ in range(frames):
        if not state.registry["paused"]:
            engine.advance()
            state.explorer.update(engine)
    for view in ("main", "compare", "grid"):
        frame = engine.frame()
        target = OffscreenTarget(engine.ctx, *natural_size(view, engine.size, engine.n_layers, frame.two_step))
        state.views.render(frame, view, target.fbo)
        drawn.append(target.read())
        target.release()
    return drawn


def input_image(state: AppState) -> np.ndarray:
    engine = state.engine
    return engine.transfer.download(engine.composite.output)[..., :3].numpy()


@pytest.mark.parametrize("situation", ["dreaming", "paused", "holding"])
def test_every_model_every_source_in_every_state(gl, tmp_path, situation):
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (90, 120, 3), np.uint8),
                                             (9, 9), 0))
    state = window_state(gl, tmp_path)
    r = state.registry
    show_frames(state)
    if situation == "dreaming":
        r.set("dream", 1.0)
    elif situation == "paused":
        r.set("paused", True)
    else:
        r.set("freeze", True)
    for source in ("sample", "shapes", "noise", str(still), "webcam"):
        actions.switch_source(state, source)
        show_frames(state, 1)
        for name in (*SHIPPED, SHIPPED[0]):
            actions.switch_model(state, name)
            assert state.notices[-1][1].startswith(f"model: {name}"), state.notices[-1][1]
            engine = state.engine
            fixed = engine.capabilities.fixed_size
            assert engine.size == (fixed or 64)
            for drawn in show_frames(state):
                assert drawn.std() > 1, f"{name} on {source} ({situation}) drew a flat view"
            assert all(torch.isfinite(s).all() for s in engine.states)
            if situation == "holding":          # the held frame survives the switch, refitted
                assert engine.source_frame.shape == (engine.size, engine.size, 3)
                assert input_image(state).std() > 0.02, f"{name}: the held frame became flat"
            if situation != "paused":
                assert engine.step_index > 0
        if fixed is None:
            actions.switch_size(state, 128)
            show_frames(state, 1)
            assert state.engine.size == 128
            actions.switch_size(state, 64)
    assert r["paused"] == (situation == "paused") and r["freeze"] == (situation == "holding")
    state.session.close()


def test_a_model_that_fixes_its_size_refuses_another(gl, tmp_path):
    state = window_state(gl, tmp_path)
    actions.switch_model(state, "pvm-small")
    actions.switch_size(state, 128)
    assert "cannot change" in state.notices[-1][1] and state.engine.size == 60
    state.session.close()
