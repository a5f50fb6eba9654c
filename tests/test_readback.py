"""The pixel-pack readback ring, output sizes, and the live recording fed through the ring."""

import argparse
import time

import av
import moderngl
import numpy as np
import pytest

from app.errors import UserError
from app.gl.output import OffscreenTarget, parse_output_size
from app.gl.readback import PixelReadback

PATTERN = """
#version 330
uniform int index;
out vec4 frag;
void main() {   // different in every row, column and frame
    ivec2 p = ivec2(gl_FragCoord.xy);
    frag = vec4(float((p.x * 7 + index * 13) % 256), float((p.y * 5 + index * 29) % 256),
                float((p.x + p.y + index) % 256), 255.0) / 255.0;
}
"""
FULLSCREEN = """
#version 330
void main() { gl_Position = vec4(vec2(gl_VertexID % 2, gl_VertexID / 2) * 4.0 - 1.0, 0.0, 1.0); }
"""


@pytest.fixture(scope="module")
def draw_pattern(gl):
    program = gl.program(vertex_shader=FULLSCREEN, fragment_shader=PATTERN)
    vao = gl.vertex_array(program, [])

    def draw(target: OffscreenTarget, index: int) -> None:
        target.fbo.use()
        program["index"] = index
        vao.render(moderngl.TRIANGLES, vertices=3)
    yield draw
    vao.release()
    program.release()


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_frames_come_out_in_order_equal_to_a_synchronous_read(gl, draw_pattern, depth):
    width, height = 50, 30      # rows of 150 bytes: no row padding may creep in
    target = OffscreenTarget(gl, width, height)
    readback = PixelReadback(gl, width, height, depth=depth)
    expected, received = [], []
    for index in range(7):
        draw_pattern(target, index)
        expected.append(target.read())
        pixels = readback.submit(target)
        assert (pixels is None) == (index < depth - 1)
        if pixels is not None:
            received.append(pixels)
    assert len(received) == 7 - (depth - 1)
    received += readback.drain()
    assert readback.drain() == []
    assert len(received) == 7
    for pixels, want in zip(received, expected):
        assert pixels.shape == (height, width, 3) and pixels.dtype == np.uint8
        assert np.array_equal(pixels, want)
    assert not np.array_equal(received[0], received[1])
    readback.release()
    target.release()


def test_the_ring_runs_on_after_a_drain(gl, draw_pattern):
    target = OffscreenTarget(gl, 16, 8)
    readback = PixelReadback(gl, 16, 8)
    expected, received = [], []
    for index in range(11):
        draw_pattern(target, index)
        expected.append(target.read())
        if (pixels := readback.submit(target)) is not None:
            received.append(pixels)
        if index == 4:
            received += readback.drain()
    received += readback.drain()
    assert [p.tobytes() for p in received] == [e.tobytes() for e in expected]


def test_a_target_of_another_size_is_refused(gl):
    readback = PixelReadback(gl, 16, 8)
    with pytest.raises(ValueError, match="16, 8"):
        readback.submit(OffscreenTarget(gl, 8, 8))


def test_a_new_target_is_black(gl):
    assert not OffscreenTarget(gl, 24, 12).read().any()


@pytest.mark.parametrize("text, size", [("1920x1080", (1920, 1080)), (" 64X48 ", (64, 48)), ("2×2", (2, 2))])
def test_output_sizes(text, size):
    assert parse_output_size(text) == size


@pytest.mark.parametrize("text, needle", [
    ("1920", "is not WIDTHxHEIGHT"), ("axb", "is not WIDTHxHEIGHT"), ("-2x2", "is not WIDTHxHEIGHT"),
    ("0x1080", "outside"), ("8000x4320", "outside"), ("1919x1080", "1920x1080"), ("64x33", "even"),
])
def test_bad_output_sizes_are_one_line_user_errors(text, needle):
    with pytest.raises(UserError, match=needle) as raised:
        parse_output_size(text)
    assert "\n" not in str(raised.value)


def test_live_recording_keeps_every_due_frame_through_the_ring(gl, tmp_path, random_checkpoint):
    """The window's recorder: frames leave the ring two frames late, yet each reaches the encoder as
    often as it was due, in order, and stopping writes the ones still in flight."""
    from app.gl.views import Views
    from app.loop.session import Session
    from app.ui import actions
    from app.ui.state import AppState

    args = argparse.Namespace(device="cpu", assignments=["view=compare"], model=str(random_checkpoint),
                              size=32, source="shapes", seed=0)
    session = Session.from_args(gl, args, realtime=False)
    engine = session.engine
    state = AppState(session=session, views=Views(gl), explorer=None, capture_dir=tmp_path, record_size=(128, 96))
    actions.toggle_recording(state)
    rec = state.recording
    assert state.outputs.output("compare", (128, 96)).sinks == (rec.sink,)
    recorder, pace = rec.sink.recorder, rec.sink.pace
    written = []
    write = recorder.write
    recorder.write = lambda pixels: written.append(pixels.copy()) or write(pixels)
    direct = OffscreenTarget(gl, 128, 96)
    shown, copies = [], []                     # the frames rendered, and how often each is due
    for skip in [0, 0, 1, 0, 2, 0, 0]:
        engine.advance()
        state.views.render(engine.frame(), "compare", direct.fbo, state.registry["error_gain"])
        shown.append(direct.read())
        copies.append(1 + skip)                # the loop was late: the frame is due 1 + skip times
        # the clock as if the frame just due were half a frame old
        pace.started = time.monotonic() - (sum(copies) - 0.5) / pace.fps
        actions.show_outputs(state)
        assert len(written) == sum(copies[:-2])    # read frame N, map frame N - 2
    actions.stop_recording(state)
    assert state.outputs.output("compare", (128, 96)) is None      # its last sink gone, the output is released
    direct.release()
    engine.release()
    assert len({s.tobytes() for s in shown}) == len(shown)
    which = [next((i for i, s in enumerate(shown) if np.array_equal(s, w)), None) for w in written]
    expected = [i for i, n in enumerate(copies) for _ in range(n)]
    assert which == expected
    # the live recorder drops what its queue cannot hold: only on a machine too busy to encode 10 tiny frames
    assert recorder.frames_written + recorder.frames_dropped == len(expected)
    with av.open(str(recorder.path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == recorder.frames_written and frames[0].shape == (96, 128, 3)
    # compare view at 128x96: three 42-pixel cells in a row, 27 black rows above and below
    assert frames[0][:12].max() < 24 and frames[0][-12:].max() < 24 and frames[0][27:69].mean() > 24
