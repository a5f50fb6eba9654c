"""Keyboard shortcuts and mouse dragging in the view, read from ImGui's input state."""

from __future__ import annotations

from imgui_bundle import imgui

from app.ui import actions, probe
from app.ui.state import AppState

IMAGE_CELLS = ("prediction", "input", "error")
PRESET_KEYS = 9                  # 1 … 9 recall presets 1 … 9
LESION_KEYS = (("t", ("top-down", "feedback")), ("b", ("bottom-up",)), ("l", ("lateral",)))


def handle_keys(state: AppState) -> None:
    io = imgui.get_io()
    if io.want_text_input:
        return
    pressed = lambda key: imgui.is_key_pressed(key, False)  # noqa: E731
    K = imgui.Key
    if pressed(K.escape):
        state.quit_requested = True
    if pressed(K.tab):
        state.panel_visible = not state.panel_visible
    if pressed(K.f):
        state.fullscreen_requested = True
    if io.want_capture_keyboard and imgui.is_any_item_active():
        return
    if pressed(K.space):
        actions.toggle_pause(state)
    if pressed(K.period):
        state.step_requested = True
    if pressed(K.d):
        actions.toggle_dream(state)
    if pressed(K.o):
        actions.toggle_occluder(state)
    if pressed(K.n):
        actions.reset_to_noise(state)
    if pressed(K.r):
        actions.toggle_recording(state)
    if pressed(K.s):
        state.screenshot_requested = True
    if pressed(K.k):
        actions.kick(state)
    for key, view in ((K.f1, "main"), (K.f2, "compare"), (K.f3, "grid")):
        if pressed(key):
            actions.cycle_view(state, view)
    if pressed(K.v):
        actions.next_view(state)
    shift = io.key_shift
    if pressed(K.g):
        _request(state, "rule", "prev" if shift else "next")
    for letter, names in LESION_KEYS:
        if pressed(getattr(K, letter)):
            lesions = state.engine.loaded.kind.lesions
            name = next((n for n in names if n in lesions), None)
            if name is None:
                state.notify(f"{state.engine.loaded.name} has no {' or '.join(names)} lesion; it has "
                             f"{', '.join(lesions) or 'none'}")
            else:
                _request(state, "lesion", name)
    for number in range(1, PRESET_KEYS + 1):
        if pressed(getattr(K, f"_{number}")):
            _request(state, "preset", str(number))


def _request(state: AppState, action: str, argument: str | None = None) -> None:
    try:
        state.controllers.actions.request(action, argument)
    except ValueError as e:
        state.notify(str(e))


def handle_mouse(state: AppState, scale: float) -> None:
    """Dragging with the left button inside an image cell moves the occluder there, or perturbs the
    dream there (explore.mouse)."""
    io = imgui.get_io()
    if io.want_capture_mouse or not imgui.is_mouse_down(imgui.MouseButton_.left):
        return
    mx, my = io.mouse_pos.x * scale, io.mouse_pos.y * scale
    if imgui.is_mouse_clicked(imgui.MouseButton_.left) and _probe_click(state, mx, my):
        return
    for cell in state.cells:
        if cell.label in IMAGE_CELLS and cell.x <= mx < cell.x + cell.w and cell.y <= my < cell.y + cell.h:
            r = state.registry
            x = min(1.0, max(0.0, (mx - cell.x) / cell.w))
            y = min(1.0, max(0.0, (my - cell.y) / cell.h))
            if r["explore.mouse"] == "probe":
                return
            if r["explore.mouse"] != "occluder":
                actions.perturb_at(state, x, y)
                return
            r.set("occluder.x", x)
            r.set("occluder.y", y)
            if r["occluder.mode"] == "off":
                r.set("occluder.mode", "blind")
            return


def _probe_click(state: AppState, mx: float, my: float) -> bool:
    """A click on a unit of a grid cell of a layer probes it; with the mouse set to probe, a click on an
    image probes the unit of the probed layer there. True where the click was taken."""
    for cell in state.cells:
        if not (cell.x <= mx < cell.x + cell.w and cell.y <= my < cell.y + cell.h):
            continue
        u, v = (mx - cell.x) / cell.w, (my - cell.y) / cell.h
        if cell.label.startswith("layer "):
            return probe.select_in_layer(state, int(cell.label.split(" ")[1]), u, v)
        if cell.label in IMAGE_CELLS and state.registry["explore.mouse"] == "probe":
            state.registry.set("probe.x", u)
            state.registry.set("probe.y", v)
            return True
    return False
