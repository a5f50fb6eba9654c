"""What the panel buttons and the keyboard shortcuts do, in one place."""

from __future__ import annotations

import time
from pathlib import Path

from app.action_table import ActionTable
from app.errors import UserError
from app.gl.views import natural_size
from app.outputs.recorder import VideoRecorder
from app.outputs.sinks import Pace, RecorderSink, ScreenshotSink
from app.outputs.view_output import Outputs
from app.loop.perturb import perturb
from app.loop.triggers import define_loop_actions, next_rule, toggle_lesion
from app.ui.explore import Explorer
from app.ui.state import AppState, LiveRecording

STANDARD_RATES = (10.0, 12.0, 15.0, 20.0, 24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 72.0, 90.0, 120.0, 144.0)


def toggle_pause(state: AppState) -> None:
    state.registry.set("paused", not state.registry["paused"])


def toggle_dream(state: AppState) -> None:
    state.dream.toggle()


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


def next_view(state: AppState) -> None:
    views = state.registry.param("view").choices
    state.registry.set("view", views[(views.index(state.registry["view"]) + 1) % len(views)])


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
    size = state.record_size or view_size_on_screen(state) or _natural_size(state, view)
    fps = display_rate(state)
    # the date and time, and -2, -3, … for more in the same second: a name no file has (created exclusively)
    path = state.capture_dir / time.strftime("hypnagogia-%Y%m%d-%H%M%S.mp4")
    try:
        recorder = VideoRecorder(path, *size, fps=fps, live=True, unique=True)
    except UserError as e:
        state.notify(f"cannot record: {e}")
        return
    sink = RecorderSink(recorder, Pace(fps))
    _outputs(state).add(sink, view, size)
    state.recording = LiveRecording(sink, view, tuple(size), time.monotonic())
    state.notify(f"recording to {recorder.path} ({size[0]}×{size[1]} at {fps:g} fps)")


def view_size_on_screen(state: AppState) -> tuple[int, int] | None:
    """The pixel size the view fills in the window now (its cells' bounding box, even sides), None
    before the first frame is drawn."""
    if not state.cells:
        return None
    x0 = min(c.x for c in state.cells)
    y0 = min(c.y for c in state.cells)
    x1 = max(c.x + c.w for c in state.cells)
    y1 = max(c.y + c.h for c in state.cells)
    return max(2, (x1 - x0) // 2 * 2), max(2, (y1 - y0) // 2 * 2)


def display_rate(state: AppState) -> float:
    """The frame rate the window really shows, as the nearest standard video rate (30 before it is known)."""
    fps = state.fps()
    if fps <= 0:
        return 30.0
    return min(STANDARD_RATES, key=lambda rate: abs(rate - fps))


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


def define_window_actions(state: AppState, table: ActionTable) -> None:
    """Every action a key, a MIDI pad, an OSC message or an audio onset can fire in the window."""
    define_loop_actions(table, lambda: state.engine, state.registry, state.dream)
    table.define("kick", "noise of the explore strength on every layer", lambda _: kick(state))
    table.define("reset", "every layer back to noise", lambda _: reset_to_noise(state))
    table.define("from_frame", "hold the source frame for the hold steps, then dream from it",
                 lambda _: dream_from_static_frame(state))
    table.define("record", "start / stop recording the view", lambda _: toggle_recording(state))
    table.define("screenshot", "the view as a PNG", lambda _: setattr(state, "screenshot_requested", True))
    table.define("occluder", "occluder on / off", lambda _: toggle_occluder(state))
    table.define("view", "show a view: main, compare or grid", lambda view: cycle_view(state, view or "main"),
                 takes="main|compare|grid")
    table.define("output_window", "open / close the output window",
                 lambda _: toggle_output_window(state, state.output_monitor))
    table.define("rule", "the next (or previous, or named) mixing rule", lambda which: _rule(state, which),
                 takes="next|prev|NAME")
    table.define("lesion", "cut / restore one of the model's pathways (every layer)", lambda name: _lesion(state, name),
                 takes="top-down|bottom-up|feedback|lateral")


def _rule(state: AppState, which: str | None) -> None:
    next_rule(state.registry, which)
    state.notify(f"rule: {state.registry['rule']}")


def _lesion(state: AppState, name: str | None) -> None:
    cut = toggle_lesion(state.engine, state.registry, name)
    state.notify(f"{name} {'cut' if cut else 'restored'}")


def take_dialog_choice(state: AppState) -> None:
    """Once a frame: a path chosen in the file dialog goes where it was asked for."""
    chosen = state.dialog.poll()
    if chosen is None:
        return
    purpose, path = chosen
    if purpose == "source":
        switch_source(state, path)
    elif purpose == "model":
        switch_model(state, path)
    elif purpose == "gallery":
        load_gallery(state, path)
    elif purpose == "preset":
        state.controllers.actions.request("preset", path)
    elif purpose == "audio":
        try:
            state.notify(state.controllers.audio.open_file(path))
        except UserError as e:
            state.notify(str(e))
