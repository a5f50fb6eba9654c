"""The composite shader builds the network's input as specified: dream mix, occluders, feedback."""

import numpy as np
import pytest

from app.gl.composite import CompositePass
from app.gl.host_transfer import HostTransfer
from app.params import make_registry

SIZE = 32


def render(gl, registry, source, prediction, step=0):
    comp = CompositePass(gl, SIZE)
    pred_tex = gl.texture((SIZE, SIZE), 3, dtype="f4")
    pred_tex.write(prediction.astype(np.float32).tobytes())
    comp.set_source(source)
    comp.render(registry, pred_tex, step)
    out = HostTransfer().download(comp.output).numpy()[..., :3]
    comp.release()
    pred_tex.release()
    return out


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8), rng.uniform(0, 1, (SIZE, SIZE, 3))


def test_dream_mixes_source_and_prediction(gl, frames):
    source, prediction = frames
    r = make_registry()
    for dream in (0.0, 0.3, 1.0):
        r.set("dream", dream)
        want = (1 - dream) * source / 255.0 + dream * prediction
        assert np.abs(render(gl, r, source, prediction) - want).max() < 2e-3


def occluder_mask(x, y, size, shape):
    c = (np.arange(SIZE) + 0.5) / SIZE
    dx, dy = c[None, :] - x, c[:, None] - y       # rows run top to bottom
    r = size / 2
    return (dx ** 2 + dy ** 2 <= r * r) if shape == "disc" else (np.maximum(abs(dx), abs(dy)) <= r)


@pytest.mark.parametrize("mode", ["blind", "inverse"])
@pytest.mark.parametrize("shape", ["disc", "square"])
@pytest.mark.parametrize("fill", ["gray", "prediction"])
def test_occluders_fill_the_right_region(gl, frames, mode, shape, fill):
    source, prediction = frames
    r = make_registry()
    for key, value in (("occluder.mode", mode), ("occluder.shape", shape), ("occluder.fill", fill),
                       ("occluder.x", 0.3), ("occluder.y", 0.6), ("occluder.size", 0.5)):
        r.set(key, value)
    mask = occluder_mask(0.3, 0.6, 0.5, shape)
    if mode == "inverse":
        mask = ~mask
    filler = np.full_like(prediction, 0.5) if fill == "gray" else prediction
    want = np.where(mask[..., None], filler, source / 255.0)
    got = render(gl, r, source, prediction)
    assert np.abs(got - want).max() < 2e-3
    assert 0 < mask.sum() < mask.size


def test_noise_fill_changes_every_step(gl, frames):
    source, prediction = frames
    r = make_registry()
    r.set("occluder.mode", "blind")
    r.set("occluder.fill", "noise")
    a, b = render(gl, r, source, prediction, 1), render(gl, r, source, prediction, 2)
    mask = occluder_mask(0.5, 0.5, r["occluder.size"], "disc")
    assert np.abs(a - b)[mask].mean() > 0.2
    assert np.abs(a - b)[~mask].max() < 1e-6
    assert 0.4 < a[mask].mean() < 0.6


def test_feedback_zoom_moves_the_prediction(gl):
    r = make_registry()
    r.set("dream", 1.0)
    prediction = np.zeros((SIZE, SIZE, 3))
    prediction[SIZE // 2 - 4:SIZE // 2 + 4, SIZE // 2 - 4:SIZE // 2 + 4] = 1.0   # a centred square
    source = np.zeros((SIZE, SIZE, 3), np.uint8)
    plain = render(gl, r, source, prediction)
    r.set("feedback.zoom", 1.25)
    zoomed = render(gl, r, source, prediction)
    assert zoomed[..., 0].sum() > plain[..., 0].sum() * 1.3        # zooming in enlarges the square
    r.set("feedback.zoom", 1.0)
    r.set("feedback.shift_x", 0.05)
    shifted = render(gl, r, source, prediction)
    cols = np.nonzero(shifted[SIZE // 2, :, 0] > 0.5)[0]
    assert cols.mean() > SIZE / 2                                   # moved right
