"""The steps of a frame before the shown one, taken on the device alone where nothing needs GL
(``Engine.needs_no_gl``, ``DreamingModel.inner_steps``): they learn as steps through GL do."""

import json

import numpy as np
import pytest
import torch

from conftest import run_cli

from app.loop.session import Session, full_registry
from app.models.checkpoint import load, save
from app.models.pvm.model import PVM
from app.models.pvm.spec import PVMSpec

LEARNING_FAST = dict(layer_shapes=[4, 2, 1], input_block_size=4, hidden_block_size=3, initial_learning_rate=0.1,
                     final_learning_rate=0.1, delay_each_layer_learning=0, enable_lateral_at=0, enable_feedback_at=0)
STEPS, PER_FRAME = 12, 4


@pytest.fixture(scope="module")
def pvm_checkpoint(tmp_path_factory):
    return save(PVM(PVMSpec(**LEARNING_FAST), seed=2), tmp_path_factory.mktemp("fast") / "fast.safetensors", {})


def make_engine(gl, checkpoint, steps_per_frame, **settings):
    session = Session(gl, full_registry(), load(str(checkpoint)), "shapes", 64, torch.device("cpu"), realtime=False)
    engine = session.engine
    engine.registry.set("steps_per_frame", steps_per_frame)
    for address, value in settings.items():
        engine.registry.set(address, value)
    return engine


def _weights(engine) -> torch.Tensor:
    pvm = engine.model.pvm
    return torch.cat([*(w.flatten() for w in pvm.input_weights()), *(g.w2.flatten() for g in pvm.groups)])


def test_steps_inside_learn_as_every_step_through_gl(gl, pvm_checkpoint):
    """The same frames (the same shapes source), STEPS steps each: one step per frame through GL, and
    PER_FRAME steps per frame of which all but the shown one skip GL. Weights, errors, predictions and
    the shown steps' records agree."""
    full, fast = make_engine(gl, pvm_checkpoint, 1), make_engine(gl, pvm_checkpoint, PER_FRAME)
    start = _weights(full).clone()
    assert fast.needs_no_gl() and full.needs_no_gl()
    for _ in range(STEPS):
        full.advance()
    for _ in range(STEPS // PER_FRAME):
        fast.advance()
    assert fast.steps_inside == STEPS - STEPS // PER_FRAME and full.steps_inside == 0
    assert fast.step_index == full.step_index == STEPS
    assert fast.model.pvm.steps == full.model.pvm.steps == STEPS
    moved = (_weights(full) - start).abs().max()
    assert moved > 1e-3                                               # it learned
    assert (_weights(fast) - _weights(full)).abs().max() < 1e-5 * float(moved) + 1e-6
    torch.testing.assert_close(fast.model.last.layer_errors, full.model.last.layer_errors, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(fast.last_prediction, full.last_prediction, rtol=1e-4, atol=1e-5)
    shown = [r.step for r in fast.history]
    assert shown == list(range(PER_FRAME - 1, STEPS, PER_FRAME))       # the shown steps' records, the last last
    by_step = {r.step: r for r in full.history}
    for record in fast.history:
        twin = by_step[record.step]
        for value in ("image_change", "top_change", "error"):
            assert getattr(record, value) == pytest.approx(getattr(twin, value), rel=1e-4, abs=1e-6), value
    for a, b in zip(fast.states, full.states):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("address, value", [
    ("dream", 0.3), ("blink", True), ("input_noise", 0.1), ("occluder.mode", "blind"), ("lesion.up", True),
    ("general.gain_down", 0.5), ("pvm.sleep", True)])
def test_every_step_goes_through_gl_where_one_needs_it(gl, pvm_checkpoint, address, value):
    engine = make_engine(gl, pvm_checkpoint, 3, **{address: value})
    assert not engine.needs_no_gl()
    engine.advance()
    engine.advance()
    assert engine.steps_inside == 0 and engine.step_index == 6 and len(engine.history) == 6


def test_an_autoencoder_takes_every_step_through_gl(gl, random_checkpoint):
    engine = make_engine(gl, random_checkpoint, 3, **{"general.gain_up": 1.0, "general.gain_down": 0.0})
    assert engine.rules.passes_through(engine.n_layers) and not engine.capabilities.inner_steps
    assert not engine.needs_no_gl()
    engine.advance()
    assert engine.steps_inside == 0 and engine.step_index == 3


def test_a_frozen_frame_is_the_input_of_every_inner_step(gl, pvm_checkpoint):
    """freeze holds the source: the inner steps read no new frame, and learn from the held one."""
    held, fed = make_engine(gl, pvm_checkpoint, 1), make_engine(gl, pvm_checkpoint, 3)
    held.advance()
    fed.registry.set("steps_per_frame", 1)
    fed.advance()
    np.testing.assert_array_equal(held.source_frame, fed.source_frame)
    held.registry.set("freeze", True)
    fed.registry.set("freeze", True)
    fed.registry.set("steps_per_frame", 3)
    for _ in range(3):
        held.advance()
    fed.advance()
    assert fed.steps_inside == 2
    np.testing.assert_array_equal(fed.source_frame, held.source_frame)
    assert (_weights(fed) - _weights(held)).abs().max() < 1e-6


@pytest.mark.parametrize("mode, inside", [("normal", True), ("deep dream", False)])
def test_bench_counts_model_steps_and_shown_frames(tmp_path, pvm_checkpoint, mode, inside):
    out = tmp_path / "bench.json"
    result = run_cli("bench", "--model", str(pvm_checkpoint), "--learn", "--steps-per-frame", "4", "--steps", "10",
                     "--warmup", "4", "--set", f"mode={mode}", "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["steps_per_frame"] == 4 and data["steps"] == 12 and data["inner_steps"] is inside
    assert data["steps_per_s"] == pytest.approx(4 * data["frames_per_s"], rel=1e-3)
    assert data["frame_ms"] == pytest.approx(4 * data["loop_ms"], rel=1e-2)
    assert ("inner steps" in data["stages_ms"]) is inside
    assert "4 steps per shown frame" in result.stdout
