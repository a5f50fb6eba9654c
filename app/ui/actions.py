"""What the panel buttons and the keyboard shortcuts do, in one place."""

from __future__ import annotations

import time
from pathlib import Path

from app.errors import UserError
from app.gl.views import natural_size
from app.outputs.recorder import VideoRecorder
from app.outputs.sinks import Pace, RecorderSink, ScreenshotSink
from app.outputs.view_output import Outputs
from app.loop.perturb import perturb
from app.ui.explore import Explorer
from app.ui.state import AppState, LiveRecording

LIVE_RECORDING_FPS = 30.0


def toggle_pause(state: AppState) -> None:
    state.registry.set("paused", not state.registry["paused"])


def toggle_dream(state: AppState) -> None:
    current = state.registry["dream"]
    if current > 0:
        state.last_dream = current
        state.registry.set("dream", 0.0)
    else:
        state.registry.set("dream", state.last_dream or 1.0)


def toggle_occluder(state: AppState) -> None:
    mode = state.registry["occluder.mode"]
    state.registry.set("occluder.mode", "off" if mode != "off" else "blind")


def reset_to_noise(state: AppState) -> None:
    state.engine.reset()
    state.explorer.restart()
    state.notify("layers reset to noise")


def kick(state: AppState) -> None:
    perturb(state.engine, strength=state.registry["explore.strength"])
    state.explorer.restart()


def perturb_at(state: AppState, x: float, y: float) -> None:
    r = state.registry
    perturb(state.engine, (x, y), r["explore.radius"], r["explore.strength"] * 0.25, r["explore.mouse"])


def dream_from_static_frame(state: AppState) -> None:
    state.explorer.dream_from_static_frame(state.engine)
    state.notify(f"holding the frame for {state.registry['explore.hold']} steps, then dreaming")


def restore_attractor(state: AppState, entry) -> None:
    try:
        state.explorer.restore(state.engine, entry)
    except UserError as e:
        state.notify(str(e))
        return
    state.registry.set("dream", 1.0)
    state.notify(f"restored {entry.label()}")


def save_gallery(state: AppState) -> None:
    folder = state.capture_dir / time.strftime("gallery-%Y%m%d-%H%M%S")
    try:
        state.explorer.gallery.save(folder)
    except OSError as e:
        state.notify(f"cannot save the gallery to {folder}: {e}")
        return
    state.notify(f"gallery saved: {folder}")


def load_gallery(state: AppState, folder: str) -> None:
    from app.analysis.gallery import Gallery
    try:
        gallery = Gallery.load(Path(folder).expanduser())
    except UserError as e:
        state.notify(str(e))
        return
    engine = state.engine
    if (gallery.model, gallery.size) != (engine.loaded.name, engine.size):
        state.notify(f"that gallery is for {gallery.model} at {gallery.size}px; switch to it first")
        return
    state.explorer.replace_gallery(gallery)
    state.notify(f"gallery loaded: {len(gallery.entries)} attractors")


def cycle_view(state: AppState, view: str) -> None:
    state.registry.set("view", view)


def _natural_size(state: AppState, view: str) -> tuple[int, int]:
    engine = state.engine
    return natural_size(view, engine.size, engine.n_layers, engine.frame().two_step)


def _outputs(state: AppState) -> Outputs:
    if state.outputs is None:
        state.outputs = Outputs(state.engine, state.views)
    return state.outputs


def take_screenshot(state: AppState) -> None:
    """The view at its natural size as a PNG: this frame's, saved (and noticed) when it comes out of
    the readback ring a tick or two later."""
    view = state.registry["view"]
    _outputs(state).add(ScreenshotSink(state.capture_dir), view, _natural_size(state, view))


def toggle_recording(state: AppState) -> None:
    if state.recording is not None:
        stop_recording(state)
        return
    view = state.registry["view"]
    size = state.record_size or _natural_size(state, view)
    # the date and time, and -2, -3, … for more in the same second: a name no file has (created exclusively)
    path = state.capture_dir / time.strftime("hypnagogia-%Y%m%d-%H%M%S.mp4")
    try:
        recorder = VideoRecorder(path, *size, fps=LIVE_RECORDING_FPS, live=True, unique=True)
    except UserError as e:
        state.notify(f"cannot record: {e}")
        return
    sink = RecorderSink(recorder, Pace(LIVE_RECORDING_FPS))
    _outputs(state).add(sink, view, size)
    state.recording = LiveRecording(sink, view, tuple(size))
    state.notify(f"recording to {recorder.path}")


def stop_recording(state: AppState) -> str | None:
    """Writes the recording's frames still in flight, closes the file and says, in one line, where
    it is and how many frames it holds (or why it holds none); returns that line."""
    rec, state.recording = state.recording, None
    if rec is None:
        return None
    try:
        summary = state.outputs.remove(rec.sink)
    except UserError as e:
        summary = str(e)
    state.notify(summary)
    return summary


def show_outputs(state: AppState) -> None:
    """Once per displayed frame: the recording and screenshots get the frames they want; finished
    screenshots are noticed, and a recording that failed stops, its error the one line about it."""
    if state.outputs is None:
        return
    for _, summary in state.outputs.show():
        state.notify(summary)
    rec = state.recording
    if rec is not None and rec.sink.error:
        stop_recording(state)


def close_outputs(state: AppState) -> str | None:
    """At the end: the recording saved, screenshots still in flight written, the outputs released;
    returns the line about the recording, if one was running."""
    recorded = stop_recording(state)
    outputs, state.outputs = state.outputs, None
    if outputs is not None:
        for _, summary in outputs.close():
            state.notify(summary)
    return recorded


def switch_source(state: AppState, spec: str) -> None:
    try:
        state.session.switch_source(spec)
    except UserError as e:
        state.notify(str(e))
        return
    state.notify(f"source: {state.engine.source.name}")


def _after_layout_change(state: AppState) -> None:
    """The layers changed shape: a grid recording cannot go on, the gallery belongs to the old ones."""
    if state.recording is not None and state.recording.view == "grid":
        stop_recording(state)
    state.explorer.replace_gallery(Explorer.for_engine(state.engine).gallery)
    state.explorer.restart()


def _switch(state: AppState, change, done: str) -> None:
    try:
        change()
    except UserError as e:
        state.notify(str(e))
        return
    _after_layout_change(state)
    state.notify(done.format(size=state.engine.size))


def switch_model(state: AppState, name: str) -> None:
    _switch(state, lambda: state.session.switch_model(name), f"model: {name} at {{size}}px")


def switch_size(state: AppState, size: int) -> None:
    _switch(state, lambda: state.session.switch_size(size), "size: {size}px")


def open_output_window(state: AppState, monitor: int | None = None) -> None:
    from app.ui.output_window import OutputWindow

    if state.output_window is not None or state.window is None:
        return
    try:
        state.output_window = OutputWindow(state.window, monitor)
    except RuntimeError as e:
        state.notify(f"cannot open the output window: {e}")
        return
    state.notify(state.output_window.message or "output window open (f: fullscreen)")
    state.output_window.message = ""


def close_output_window(state: AppState) -> None:
    if state.output_window is not None:
        state.output_window.close()
        state.output_window = None


def toggle_output_window(state: AppState, monitor: int | None = None) -> None:
    if state.output_window is None:
        open_output_window(state, monitor)
    else:
        close_output_window(state)
        state.notify("output window closed")


def show_output_window(state: AppState) -> None:
    """The view in the output window, at its size, letterboxed; its messages as notices."""
    out = state.output_window
    if out is None:
        return
    engine, registry = state.engine, state.registry
    out.show(lambda fbo, size: state.views.render(engine.frame(), registry["view"], fbo, registry["error_gain"]))
    if out.message:
        state.notify(out.message)
        out.message = ""
    if out.closed:
        state.output_window = None


def toggle_sender(state: AppState, kind: str) -> None:
    """Start or stop sending the view to another program (``app.outputs.senders``), at the send size
    (default 1280×720), following the view shown."""
    from app.outputs.senders import CAMERA_SIZE, SENDERS

    sink = state.senders.pop(kind, None)
    if sink is not None:
        state.notify(_outputs(state).remove(sink))
        return
    try:
        sink = SENDERS[kind](**({"size": state.send_size or CAMERA_SIZE} if kind == "camera" else {}))
    except UserError as e:
        state.notify(str(e))
        return
    size = state.send_size or CAMERA_SIZE
    _outputs(state).add(sink, None, size)
    state.senders[kind] = sink
    state.notify(f"sending to {sink.name} at {size[0]}×{size[1]}")


def watch_senders(state: AppState) -> None:
    """A sender whose receiver failed stops, in one line; the loop carries on."""
    for kind, sink in list(state.senders.items()):
        if sink.error:
            state.notify(sink.error)
            toggle_sender(state, kind)
