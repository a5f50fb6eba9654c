"""What the panel buttons and the keyboard shortcuts do, in one place."""

from __future__ import annotations

import time
from pathlib import Path

from app.errors import UserError
from app.gl.output import OffscreenTarget
from app.gl.readback import PixelReadback
from app.gl.views import natural_size
from app.outputs.recorder import VideoRecorder
from app.outputs.screenshot import save_png
from app.models.checkpoint import load
from app.sources import open_source
from app.ui.state import AppState, LiveRecording

LIVE_RECORDING_FPS = 30.0
MAX_REPEATS = 4   # after a longer stall the file skips ahead instead of freezing on one frame


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
    state.engine.perturb(strength=state.registry["explore.strength"])
    state.explorer.restart()


def perturb_at(state: AppState, x: float, y: float) -> None:
    r = state.registry
    state.engine.perturb((x, y), r["explore.radius"], r["explore.strength"] * 0.25, r["explore.mouse"])


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


def render_offscreen(state: AppState, view: str, size: tuple[int, int]):
    target = OffscreenTarget(state.engine.ctx, *size)
    try:
        state.views.render(state.engine.frame(), view, target.fbo, state.registry["error_gain"])
        return target.read()
    finally:
        target.release()


def _natural_size(state: AppState, view: str) -> tuple[int, int]:
    engine = state.engine
    return natural_size(view, engine.size, engine.n_layers, engine.frame().two_step)


def take_screenshot(state: AppState) -> None:
    view = state.registry["view"]
    size = _natural_size(state, view)
    try:
        path = save_png(render_offscreen(state, view, size), state.capture_dir)
    except (OSError, UserError) as e:
        state.notify(f"screenshot failed: {e}")
        return
    state.notify(f"screenshot saved: {path}")


def toggle_recording(state: AppState) -> None:
    if state.recording is not None:
        stop_recording(state)
        return
    view = state.registry["view"]
    size = state.record_size or _natural_size(state, view)
    path = state.capture_dir / time.strftime("hypnagogia-%Y%m%d-%H%M%S.mp4")
    try:
        recorder = VideoRecorder(path, *size, fps=LIVE_RECORDING_FPS, live=True)
    except UserError as e:
        state.notify(f"cannot record: {e}")
        return
    ctx = state.engine.ctx
    state.recording = LiveRecording(recorder, OffscreenTarget(ctx, *size), PixelReadback(ctx, *size), view,
                                    fps=LIVE_RECORDING_FPS)
    state.notify(f"recording to {path}")


def stop_recording(state: AppState) -> None:
    rec, state.recording = state.recording, None
    if rec is None:
        return
    for pixels in rec.readback.drain():
        _write_copies(rec, pixels)
    rec.readback.release()
    rec.target.release()
    try:
        rec.recorder.close()
    except UserError as e:
        state.notify(str(e))
        return
    dropped = f", {rec.recorder.frames_dropped} dropped" if rec.recorder.frames_dropped else ""
    state.notify(f"recording saved: {rec.recorder.path} ({rec.recorder.frames_written} frames{dropped})")


def record_frame(state: AppState) -> None:
    rec = state.recording
    if rec is None:
        return
    due = rec.frames_due(time.monotonic())
    if due <= 0:
        return
    state.views.render(state.engine.frame(), rec.view, rec.target.fbo, state.registry["error_gain"])
    rec.copies.append(min(due, MAX_REPEATS))
    pixels = rec.readback.submit(rec.target)
    if pixels is not None:
        _write_copies(rec, pixels)
    rec.submitted += due
    if rec.recorder.error:
        state.notify(rec.recorder.error)
        stop_recording(state)


def _write_copies(rec: LiveRecording, pixels) -> None:
    """Writes the oldest frame of the readback ring as many times as it was due."""
    for _ in range(rec.copies.popleft()):
        rec.recorder.write(pixels)


def switch_source(state: AppState, spec: str) -> None:
    try:
        source = open_source(spec, state.engine.size, realtime=True)
    except UserError as e:
        state.notify(str(e))
        return
    state.engine.set_source(source)
    state.source_spec = spec
    state.notify(f"source: {source.name}")


def switch_model(state: AppState, name: str) -> None:
    try:
        loaded = load(name, state.engine.device)
        state.engine.set_model(loaded)
    except UserError as e:
        state.notify(str(e))
        return
    if state.recording is not None and state.recording.view == "grid":
        stop_recording(state)
    from app.ui.explore import Explorer
    state.explorer.replace_gallery(Explorer.for_engine(state.engine).gallery)
    state.explorer.restart()
    state.notify(f"model: {name}")
