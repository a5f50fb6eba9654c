"""View outputs and their sinks on real GL (EGL) and real files: every frame to every sink, in
order; sinks that come and go mid-run; screenshots; paced repeats; a slow sink on its own thread."""

import argparse
import threading
import time

import av
import cv2
import moderngl
import numpy as np
import pytest

from app.gl.output import OffscreenTarget
from app.outputs.recorder import VideoRecorder
from app.outputs.sinks import (MAX_REPEATS, BaseSink, Pace, RecorderSink, ScreenshotSink, Sink,
                               ThreadedSink)
from app.outputs.view_output import Outputs, ViewOutput

SMOOTH = """
#version 330
uniform int index;
out vec4 frag;
void main() {   // smooth enough for H.264 to keep close, different in every frame
    vec2 p = gl_FragCoord.xy;
    frag = vec4(0.5 + 0.45 * sin(p.x * 0.09 + float(index) * 0.7), 0.5 + 0.45 * cos(p.y * 0.11 - float(index) * 0.5),
                float((index * 37) % 200 + 28) / 255.0, 1.0);
}
"""
FULLSCREEN = """
#version 330
void main() { gl_Position = vec4(vec2(gl_VertexID % 2, gl_VertexID / 2) * 4.0 - 1.0, 0.0, 1.0); }
"""
SIZE = (64, 48)


class Scene:
    """What a view output draws: frame ``index`` of a pattern; ``draws`` counts the renders."""

    def __init__(self, ctx):
        self.program = ctx.program(vertex_shader=FULLSCREEN, fragment_shader=SMOOTH)
        self.vao = ctx.vertex_array(self.program, [])
        self.index = 0
        self.draws = 0

    def __call__(self, fbo: moderngl.Framebuffer) -> None:
        fbo.use()
        self.program["index"] = self.index
        self.vao.render(moderngl.TRIANGLES, vertices=3)
        self.draws += 1

    def expected(self, ctx, index: int) -> np.ndarray:
        """Frame ``index`` read synchronously from a target of its own."""
        target = OffscreenTarget(ctx, *SIZE)
        saved, draws = self.index, self.draws
        self.index = index
        self(target.fbo)
        self.index, self.draws = saved, draws
        pixels = target.read()
        target.release()
        return pixels


class ListSink(BaseSink):
    """Keeps every frame it is given."""

    def __init__(self, name="list", pace=None):
        super().__init__(pace)
        self.name = name
        self.frames = []
        self.closed = False

    def write(self, pixels):
        assert not self.closed, "written after close"
        self.frames.append(pixels)
        self.frames_written += 1

    def close(self):
        self.closed = True
        return f"{self.name}: {self.frames_written} frames"


@pytest.fixture
def scene(gl):
    return Scene(gl)


def run_ticks(output, scene, ticks, *, before=None):
    """``ticks`` loop ticks showing frames 0, 1, …; ``before(i)`` runs at the start of tick i."""
    for i in ticks:
        if before is not None:
            before(i)
        scene.index = i
        output.show()


def decode(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_sinks_satisfy_the_protocol(tmp_path):
    recorder = VideoRecorder(tmp_path / "p.mp4", 16, 16)
    sinks = [ListSink(), RecorderSink(recorder), ScreenshotSink(tmp_path), ThreadedSink(ListSink())]
    assert all(isinstance(s, Sink) for s in sinks)
    for s in sinks:
        s.close()


def test_two_sinks_at_once_get_every_frame_in_order(gl, scene, tmp_path):
    """A list of pixel arrays and an H.264 file fed by one output: both hold every frame, in order,
    equal to a synchronous read of that frame."""
    output = ViewOutput(gl, SIZE, scene)
    frames = ListSink()
    recording = RecorderSink(VideoRecorder(tmp_path / "two.mp4", *SIZE))
    output.add(frames)
    output.add(recording)
    run_ticks(output, scene, range(12))
    assert len(frames.frames) == 10                 # read frame N, map frame N - 2
    output.drain()
    assert output.remove(recording) == f"recording saved: {tmp_path / 'two.mp4'} (12 frames)"
    expected = [scene.expected(gl, i) for i in range(12)]
    assert len(frames.frames) == 12
    for got, want in zip(frames.frames, expected):
        assert got.shape == (SIZE[1], SIZE[0], 3) and got.dtype == np.uint8
        assert np.array_equal(got, want)
        assert not got.flags.writeable              # shared between the sinks
    assert len({f.tobytes() for f in expected}) == 12
    decoded = decode(tmp_path / "two.mp4")
    assert len(decoded) == 12
    for i, frame in enumerate(decoded):
        errors = [np.abs(frame.astype(float) - e).mean() for e in expected]
        assert int(np.argmin(errors)) == i and errors[i] < 6.0     # codec noise; the next nearest is ~40 off
    output.close()


def test_a_sink_added_mid_run_gets_frames_from_then_on_and_one_removed_keeps_its_frames_in_flight(gl, scene):
    output = ViewOutput(gl, SIZE, scene)
    always, late, leaving = ListSink("always"), ListSink("late"), ListSink("leaving")
    output.add(always)
    output.add(leaving)
    summaries = {}

    def before(i):
        if i == 3:
            output.add(late)
        if i == 6:
            summaries["leaving"] = output.remove(leaving)     # frames 4 and 5 are still in the ring
            assert leaving.closed and len(leaving.frames) == 6

    run_ticks(output, scene, range(10), before=before)
    assert summaries["leaving"] == "leaving: 6 frames"
    output.drain()
    expected = [scene.expected(gl, i) for i in range(10)]

    def indices(sink):
        return [next(i for i, e in enumerate(expected) if np.array_equal(f, e)) for f in sink.frames]

    assert indices(always) == list(range(10))
    assert indices(late) == list(range(3, 10))
    assert indices(leaving) == list(range(6))
    closed = output.close()
    assert [s for s, _ in closed] == [always, late]


def test_an_output_without_sinks_renders_nothing(gl, scene):
    output = ViewOutput(gl, SIZE, scene)
    run_ticks(output, scene, range(3))
    assert scene.draws == 0 and not output.target.read().any()
    sink = ListSink()
    output.add(sink)
    run_ticks(output, scene, range(3, 5))
    assert scene.draws == 2
    output.close()
    assert len(sink.frames) == 2


def test_paced_sink_repeats_late_frames_and_skips_long_stalls(gl, scene):
    """A 30 fps stream in a loop of uneven ticks: each frame as often as the clock says, never more
    than MAX_REPEATS times; ticks that fall between two stream frames render nothing."""
    pace = Pace(30.0, started=0.0)
    sink = ListSink(pace=pace)
    output = ViewOutput(gl, SIZE, scene)
    output.add(sink)
    # tick times (s) → stream frames due: 0 → 1; 0.01 → 0 (nothing rendered); 0.034 → 1; 0.1 → 2;
    # 0.5 → 12, cut to MAX_REPEATS
    times = [0.0, 0.01, 0.034, 0.1, 0.5]
    for i, now in enumerate(times):
        scene.index = i
        output.show(now)
    output.drain()
    assert scene.draws == 4
    expected = [scene.expected(gl, i) for i in range(len(times))]
    got = [next(i for i, e in enumerate(expected) if np.array_equal(f, e)) for f in sink.frames]
    assert got == [0, 2, 3, 3] + [4] * MAX_REPEATS
    assert pace.submitted == 16                      # the stream's clock skipped the rest
    output.close()


def test_pace_counts_due_frames():
    pace = Pace(10.0, max_repeats=3, started=100.0)
    assert [pace.copies(t) for t in (100.0, 100.05, 100.12, 100.35, 101.0)] == [1, 0, 1, 2, 3]
    assert pace.frames_due(101.0) == 0


def test_screenshot_writes_one_png_equal_to_the_view_and_goes(gl, tmp_path, random_checkpoint):
    """Through the engine's outputs as the window uses them: a screenshot at the view's natural size
    beside a recording at another size; the PNG is the frame of the tick it was asked on."""
    from app.gl.views import Views, natural_size
    from app.loop.session import build_engine

    args = argparse.Namespace(device="cpu", assignments=["view=compare"], model=str(random_checkpoint),
                              size=32, source="shapes", seed=0)
    engine = build_engine(gl, args, realtime=False)
    views = Views(gl)
    outputs = Outputs(engine, views)
    recording = RecorderSink(VideoRecorder(tmp_path / "rec.mp4", 128, 96, live=True), Pace(30.0))
    outputs.add(recording, "compare", (128, 96))
    size = natural_size("compare", engine.size, engine.n_layers, engine.frame().two_step)
    assert size == (96, 32)
    direct = OffscreenTarget(gl, *size)
    finished, want = [], None
    for tick in range(6):
        engine.advance()
        if tick == 1:
            shot = ScreenshotSink(tmp_path / "shots")
            outputs.add(shot, "compare", size)
            assert outputs.output("compare", size) is not outputs.output("compare", (128, 96))
            views.render(engine.frame(), "compare", direct.fbo, engine.registry["error_gain"])
            want = direct.read()
        finished += outputs.show()
        if tick == 1:
            assert shot in outputs.sinks
    assert finished == [(shot, f"screenshot saved: {shot.path}")]
    assert shot not in outputs.sinks and outputs.output("compare", size) is None
    assert outputs.sinks == [recording]
    pngs = list((tmp_path / "shots").glob("*.png"))
    assert pngs == [shot.path]
    png = cv2.cvtColor(cv2.imread(str(shot.path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(png, want)
    assert outputs.close() == [(recording, f"recording saved: {tmp_path / 'rec.mp4'} "
                                           f"({recording.frames_written} frames)")]
    assert recording.frames_written >= 1
    direct.release()
    engine.release()


def test_a_screenshot_alone_comes_out_on_the_next_tick(gl, scene, tmp_path):
    """No other sink pushes its frame out of the ring: the output drains it a tick later."""
    output = ViewOutput(gl, SIZE, scene)
    shot = ScreenshotSink(tmp_path)
    output.add(shot)
    scene.index = 5
    assert output.show() == []
    scene.index = 6
    assert output.show() == [(shot, f"screenshot saved: {shot.path}")]
    assert output.idle and scene.draws == 1
    png = cv2.cvtColor(cv2.imread(str(shot.path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(png, scene.expected(gl, 5))
    output.release()


def test_a_screenshot_that_cannot_be_saved_says_why(gl, scene, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    output = ViewOutput(gl, SIZE, scene)
    shot = ScreenshotSink(blocker / "shots")
    output.add(shot)
    output.show()
    (_, summary), = output.show()
    assert summary.startswith("screenshot failed: cannot save screenshot in") and shot.frames_dropped == 1
    output.release()


class SlowSink(ListSink):
    def __init__(self, seconds):
        super().__init__("slow")
        self.seconds = seconds
        self.threads = set()

    def write(self, pixels):
        self.threads.add(threading.get_ident())
        time.sleep(self.seconds)
        super().write(pixels)


def test_a_slow_sink_on_its_own_thread_drops_its_own_frames_and_never_blocks_the_loop():
    slow = SlowSink(0.05)
    sink = ThreadedSink(slow, queue_frames=2)
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(40)]
    longest = 0.0
    for frame in frames:
        start = time.perf_counter()
        sink.write(frame)
        longest = max(longest, time.perf_counter() - start)
        time.sleep(0.002)
    assert longest < 0.015, f"write took {longest * 1000:.1f} ms"
    assert sink.close() == f"slow: {slow.frames_written} frames"
    assert threading.get_ident() not in slow.threads
    assert sink.frames_dropped > 0
    assert sink.frames_written + sink.frames_dropped == len(frames)
    got = [int(f[0, 0, 0]) for f in slow.frames]
    assert got == sorted(set(got)) and got[0] == 0          # in order, none twice
    with pytest.raises(Exception, match="already closed"):
        sink.write(frames[0])


def test_a_threaded_sink_behind_a_view_output(gl, scene):
    slow = SlowSink(0.0)
    sink = ThreadedSink(slow, queue_frames=64)
    output = ViewOutput(gl, SIZE, scene)
    output.add(sink)
    run_ticks(output, scene, range(8))
    assert output.close() == [(sink, "slow: 8 frames")]
    assert all(np.array_equal(f, scene.expected(gl, i)) for i, f in enumerate(slow.frames))


def test_a_threaded_sink_whose_receiver_fails_stops_alone():
    class Failing(ListSink):
        def write(self, pixels):
            if len(self.frames) == 2:
                raise OSError("receiver went away")
            super().write(pixels)

    inner = Failing("camera")
    sink = ThreadedSink(inner, queue_frames=1)
    for i in range(6):
        sink.write(np.zeros((2, 2, 3), np.uint8))
        deadline = time.monotonic() + 2
        while sink._queue.qsize() and time.monotonic() < deadline:   # let the worker keep up
            time.sleep(0.001)
    time.sleep(0.05)
    assert sink.error == "camera stopped: receiver went away"
    assert sink.accepts(time.monotonic()) == 0
    sink.close()
    assert sink.frames_written == 2 and sink.frames_dropped == 4
