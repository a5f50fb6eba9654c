"""The live window: the loop steps once per displayed frame, the view fills the window beside
the panel, and every control writes the registry."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

from app.ui.window import Window  # imports imgui_bundle before glfw
from app.resources import captures_dir
from app.gl.output import parse_output_size
from app.gl.views import Views
from app.loop.session import Session
from app.outputs import signals
from app.outputs.signals import StopRequest
from app.action_table import ActionTable
from app.controllers.hub import Controllers
from app.loop.records import latest_readouts
from app.ui import actions
from app.ui.host import WindowHost
from app.ui.explore import Explorer
from app.ui.input import handle_keys, handle_mouse
from app.ui.panel import PANEL_WIDTH, draw_panel
from app.ui.state import AppState
from imgui_bundle import imgui

SHADER_POLL_S = 0.5
PROBE_INTERVAL_S = 0.25


def run_live(args) -> int:
    """SIGINT, SIGTERM or SIGHUP while the window opens end it at the next stage (nothing records
    yet); once it runs they close it as Esc does, the recording saved, and one line on stderr says
    what the recording holds (app.outputs.signals)."""
    stop = signals.current()
    width, height = (int(v) for v in args.window_size.lower().split("x"))
    record_size = parse_output_size(args.record_size, "--record-size") if args.record_size else None
    window = Window("Hypnagogia", width, height, fullscreen=args.fullscreen)
    try:
        stop.check()
        session = Session.from_args(window.ctx, args, realtime=True)
        stop.check()
        engine = session.engine
        capture_dir = Path(args.captures).expanduser() if args.captures else captures_dir()
        state = AppState(session=session, views=Views(window.ctx), explorer=Explorer.for_engine(engine),
                         capture_dir=capture_dir, record_size=record_size)
        state.notify(f"{engine.loaded.name} at {engine.size}px on {engine.device}; source: {engine.source.name}")
        state.window = window
        if args.output_monitor is not None:
            state.output_monitor = args.output_monitor
            actions.open_output_window(state, args.output_monitor)
        state.send_size = parse_output_size(args.send_size, "--send-size") if args.send_size else None
        for kind in args.send:
            actions.toggle_sender(state, kind)
        state.controllers = _controllers(state, args)
        try:
            recorded = _loop(window, state, Path(args.ui_probe) if args.ui_probe else None, stop)
        except BaseException:
            with contextlib.suppress(Exception):    # what was recorded is kept, whatever stopped the loop
                actions.close_outputs(state)
            raise
        if stop.is_set():
            print(f"hypnagogia: interrupted by {stop.name}" + (f"; {recorded}" if recorded else ""), file=sys.stderr)
            return stop.exit_status
    finally:
        window.shutdown()
    return 0


def _controllers(state: AppState, args) -> Controllers:
    table = ActionTable()
    actions.define_window_actions(state, table)
    controllers = Controllers(state.registry, table, WindowHost(state))
    controllers.open_from_args(args, midi=True)
    return controllers


def _loop(window: Window, state: AppState, probe: Path | None, stop: StopRequest) -> str | None:
    """Until Esc, the window closed or a stop signal; returns the line about the recording it closed."""
    engine = state.engine
    next_shader_poll = next_probe = 0.0
    shown = {"engine": "", "source": ""}
    while not window.should_close and not state.quit_requested and not stop.is_set():
        now = time.monotonic()
        if now >= next_shader_poll:
            next_shader_poll = now + SHADER_POLL_S
            if engine.rules.reload_if_changed():
                errors = list(engine.rules.errors.values())
                state.notify(f"shader error (the last good version runs): {errors[0]}" if errors
                             else "shaders reloaded")
        state.controllers.tick(now, {**latest_readouts(engine.history),
                                     "verdict": state.explorer.detector.verdict.kind})
        if not state.registry["paused"] or state.step_requested:
            engine.advance()
            state.explorer.update(engine)
            state.step_requested = False
        state.probe.update(state)           # the probed unit (app.ui.probe)
        for key, message in (("engine", engine.message), ("source", engine.source.message)):
            if message != shown[key]:
                shown[key] = message
                state.notify(message)

        timer = engine.timer
        with timer("panel"):
            window.begin_frame()
            handle_keys(state)
            fw, fh = window.framebuffer_size()
            scale = window.content_scale()
            panel_px = int(PANEL_WIDTH * scale) if state.panel_visible else 0
            handle_mouse(state, scale)
            if state.panel_visible:
                draw_panel(state, (fw - panel_px) / scale, fh / scale)
        with timer("views"):
            screen = window.ctx.screen
            screen.use()
            screen.viewport = (0, 0, fw, fh)
            window.ctx.clear(0.05, 0.05, 0.07, 1.0)
            state.cells = state.views.render(engine.frame(), state.registry["view"], screen,
                                             state.registry["error_gain"], region=(0, 0, fw - panel_px, fh),
                                             canvas=(fw, fh))
            _draw_labels(state, scale)
            _draw_recording(state, scale)
            state.probe.draw_overlay(state, scale)      # the probed unit's receptive field
        if state.screenshot_requested:
            state.screenshot_requested = False
            actions.take_screenshot(state)
        actions.show_outputs(state)
        if state.output_window is not None:
            with timer("output window"):
                actions.show_output_window(state)
        actions.watch_senders(state)
        actions.take_dialog_choice(state)
        with timer("present"):
            screen.use()
            screen.viewport = (0, 0, fw, fh)
            window.end_frame()
        state.frame_times.append(time.monotonic())

        if state.fullscreen_requested:
            state.fullscreen_requested = False
            if state.output_window is not None:      # the performer's f is for the projector
                state.output_window.toggle_fullscreen()
            else:
                window.toggle_fullscreen()
        if probe is not None and now >= next_probe:
            next_probe = now + PROBE_INTERVAL_S
            _write_probe(state, probe, scale)
    recorded = actions.close_outputs(state)
    state.controllers.close()
    state.dialog.close()
    actions.close_output_window(state)
    state.probe.close()
    state.session.close()
    return recorded


def _draw_labels(state: AppState, scale: float) -> None:
    """Names of the cells in the compare and grid views, drawn over the images."""
    if state.registry["view"] == "main":
        return
    draw = imgui.get_background_draw_list()
    for cell in state.cells:
        pos = imgui.ImVec2(cell.x / scale + 4, cell.y / scale + 2)
        draw.add_text(pos, imgui.get_color_u32(imgui.ImVec4(1, 1, 0.6, 0.9)), cell.label)


def _draw_recording(state: AppState, scale: float) -> None:
    """A red lamp, REC and the elapsed time over the view's corner while a recording runs, whatever tab
    the panel shows."""
    rec = state.recording
    if rec is None or not state.cells:
        return
    elapsed = time.monotonic() - rec.started
    x = min(c.x for c in state.cells) / scale + 12
    y = min(c.y for c in state.cells) / scale + 10
    draw = imgui.get_foreground_draw_list()
    text = f"REC {int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}  {rec.size[0]}x{rec.size[1]}"
    width = imgui.calc_text_size(text).x
    draw.add_rect_filled(imgui.ImVec2(x - 6, y - 5), imgui.ImVec2(x + width + 30, y + 21),
                         imgui.get_color_u32(imgui.ImVec4(0, 0, 0, 0.6)), 4.0)
    lamp = 1.0 if int(elapsed * 2) % 2 == 0 else 0.45          # it blinks: a recording that runs
    draw.add_circle_filled(imgui.ImVec2(x + 7, y + 8), 6.0, imgui.get_color_u32(imgui.ImVec4(lamp, 0.1, 0.1, 1)))
    draw.add_text(imgui.ImVec2(x + 20, y), imgui.get_color_u32(imgui.ImVec4(1, 1, 1, 1)), text)
    state.widgets["recording_indicator"] = [x - 6, y - 5, x + width + 30, y + 21]


def _write_probe(state: AppState, probe: Path, scale: float) -> None:
    """Where the widgets and cells are, for automated UI tests driving the window with xdotool."""
    data = {"widgets": state.widgets, "scale": scale, "step": state.engine.step_index,
            "verdict": state.explorer.detector.verdict.describe(), "gallery": len(state.explorer.gallery.entries),
            "cells": [[c.label, c.x / scale, c.y / scale, c.w / scale, c.h / scale] for c in state.cells],
            "params": state.registry.snapshot(), "fps": state.fps(), "stages_ms": state.engine.timer.ms,
            "notices": [n for _, n in state.notices], "probe": state.probe.report(), "path_input": state.path_input,
            "recording": None if state.recording is None else {"path": str(state.recording.sink.path),
                                                              "size": list(state.recording.size)},
            "output_window": state.output_window.geometry() if state.output_window is not None else None}
    tmp = probe.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(probe)
