"""The ImGui control panel. Every control reads and writes the parameter registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from imgui_bundle import imgui, implot

from app.params import Param, Registry
from app.ui import actions, dialogs, midi_panel, modulators_panel, presets_panel
from app.ui.state import AppState

PANEL_WIDTH = 440
STATUS_LINES = 7
SOURCES = ("webcam", "sample", "shapes", "noise")
SIZES = (64, 96, 128, 192, 256, 384, 512, 768, 1024)
SENDER_LABELS = {"camera": "virtual camera", "ndi": "NDI", "syphon": "Syphon (macOS)", "spout": "Spout (Windows)"}
SHORTCUTS = (("space", "pause / play"), (".", "one step (paused)"), ("d", "dream on / off"),
             ("o", "occluder on / off"), ("n", "reset to noise"), ("k", "kick (noise on every layer)"),
             ("1 … 9", "recall preset 1 … 9"), ("F1 F2 F3", "main / compare / grid view"), ("v", "next view"),
             ("g", "next mixing rule (shift: previous)"), ("t", "cut / restore top-down (PVM: feedback)"),
             ("b", "cut / restore bottom-up"), ("l", "cut / restore lateral (PVM)"),
             ("r", "record on / off"), ("s", "screenshot"), ("f", "fullscreen"), ("tab", "hide panel"),
             ("esc", "quit"), ("drag", "occluder / noise / source"), ("click", "a unit in the grid: probe it"),
             ("right click", "a control: MIDI learn, modulate"))
WARN = imgui.ImVec4(1.0, 0.78, 0.3, 1.0)
DIM = imgui.ImVec4(0.65, 0.65, 0.7, 1.0)
RED = imgui.ImVec4(1.0, 0.35, 0.35, 1.0)
GREEN = imgui.ImVec4(0.45, 0.95, 0.5, 1.0)
CYAN = imgui.ImVec4(0.4, 0.85, 1.0, 1.0)
LEARN = imgui.ImVec4(0.85, 0.55, 0.1, 1.0)


def _remember(state: AppState, key: str) -> None:
    lo, hi = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    state.widgets[key] = [lo.x, lo.y, hi.x, hi.y]


def param_widget(state: AppState, param: Param, layer: int | None = None, label: str | None = None) -> None:
    """The natural widget for a parameter (per-layer ones at ``layer``); a right click on it opens its
    menu: MIDI learn, modulators, audio."""
    registry = state.registry
    address = f"{param.name}.{layer}" if layer is not None else param.name
    value = registry[address]
    text = f"{label or param.label}##{address}"
    learning = midi_panel.is_learning(state, address)
    if learning:
        imgui.push_style_color(imgui.Col_.frame_bg, LEARN)
    if param.kind == "bool":
        changed, new = imgui.checkbox(text, value)
    elif param.kind == "choice":
        changed, index = imgui.combo(text, param.choices.index(value), list(param.choices))
        new = param.choices[index]
    elif param.kind == "int":
        changed, new = imgui.slider_int(text, value, int(param.min), int(param.max))
    else:
        changed, new = imgui.slider_float(text, value, param.min, param.max, "%.3f")
    if learning:
        imgui.pop_style_color()
    _remember(state, f"param:{address}")
    imgui.set_item_tooltip(f"{address}: {param.help}\n(right click: MIDI learn, modulate)")
    _control_menu(state, address, numeric=param.kind in ("float", "int"))
    if changed:
        registry.set(address, new)


def _control_menu(state: AppState, target: str, numeric: bool = False) -> None:
    """The right-click menu of the last control: ``target`` is a parameter address or an action name."""
    if imgui.begin_popup_context_item(f"menu##{target}"):
        imgui.text_colored(DIM, target)
        midi_panel.menu_items(state, target)
        if numeric:
            modulators_panel.menu_items(state, target)
        imgui.end_popup()


def action_button(state: AppState, label: str, action: str, size=None) -> bool:
    """A button that fires ``action`` (learnable: right click to map a pad to it); True when clicked."""
    target = midi_panel.action_target(action)
    learning = midi_panel.is_learning(state, target)
    if learning:
        imgui.push_style_color(imgui.Col_.button, LEARN)
    clicked = imgui.button(label, size or imgui.ImVec2(0, 0))
    if learning:
        imgui.pop_style_color()
    _control_menu(state, target)
    return clicked


def draw_panel(state: AppState, x: float, height: float) -> None:
    state.widgets.clear()          # the probe reports only what this frame drew
    imgui.set_next_window_pos(imgui.ImVec2(x, 0))
    imgui.set_next_window_size(imgui.ImVec2(PANEL_WIDTH, height))
    flags = imgui.WindowFlags_.no_move | imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_collapse
    imgui.begin("Hypnagogia", None, flags)
    _status(state)
    _transport(state)
    _view(state)
    if imgui.begin_tab_bar("sections"):
        for title, section in (("Layers", _layers), ("Input", _input_tab), ("Explore", _attractors),
                               ("Probe", _probe_tab), ("Presets", _presets_tab), ("Play", _play_tab),
                               ("Capture", _capture_tab)):
            selected = imgui.begin_tab_item_simple(title)
            _remember(state, f"tab:{title}")
            if selected:
                section(state)
                imgui.end_tab_item()
        imgui.end_tab_bar()
    imgui.end()


def _probe_tab(state: AppState) -> None:
    state.probe.draw_section(state, lambda key: _remember(state, key),
                             lambda _, param, *rest: param_widget(state, param, *rest))


def _presets_tab(state: AppState) -> None:
    presets_panel.draw_tab(state, lambda key: _remember(state, key))


def _play_tab(state: AppState) -> None:
    """The controllers: MIDI, tempo, modulators and audio, OSC."""
    remember = lambda key: _remember(state, key)  # noqa: E731
    midi_panel.draw_section(state, remember)
    modulators_panel.draw_section(state, remember)
    _osc_section(state)


def _osc_section(state: AppState) -> None:
    imgui.separator_text("OSC")
    controllers = state.controllers
    if controllers.osc_in is not None:
        host, port = controllers.osc_in.address
        imgui.text_colored(GREEN, f"listening on {host}:{port}")
    else:
        imgui.text_colored(DIM, "in: off (start with --osc-in PORT)")
    if controllers.osc_out is not None:
        imgui.text_colored(GREEN, f"sending to {controllers.osc_out.target}")
    else:
        imgui.text_colored(DIM, "out: off (start with --osc-out HOST:PORT)")
    imgui.push_text_wrap_pos(0.0)
    imgui.text_colored(DIM, "/hypnagogia/<parameter> value, /hypnagogia/action/<name>, /hypnagogia/preset/<name>")
    imgui.pop_text_wrap_pos()


def _input_tab(state: AppState) -> None:
    _inputs(state)
    _occluder(state)
    _feedback(state)


def _capture_tab(state: AppState) -> None:
    _capture(state)
    _output_window(state)
    _senders(state)
    _shortcuts()


def _status(state: AppState) -> None:
    engine = state.engine
    fps = state.fps()
    imgui.text(f"{fps:5.1f} fps ({fps * state.registry['steps_per_frame']:.0f} steps/s)   step {engine.step_index}")
    imgui.text_colored(DIM, f"{engine.loaded.name} at {engine.size}px on {engine.device}, source {engine.source.name}")
    # a fixed height, so that new messages never push the controls below from under the mouse
    imgui.begin_child("status", imgui.ImVec2(0, STATUS_LINES * imgui.get_text_line_height_with_spacing()))
    imgui.push_text_wrap_pos(0.0)
    status = engine.model.status()
    if status:
        imgui.text_colored(CYAN, f"{status}  mode: {state.registry['mode']}")
    stages = engine.timer.ms
    if stages:
        imgui.text_colored(DIM, "ms: " + "  ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    for message in (engine.source.message, engine.message, *engine.rules.errors.values()):
        if message:
            imgui.text_colored(WARN, message)
    for stamp, notice in reversed(list(state.notices)[-3:]):     # the newest first
        imgui.text_colored(DIM, f"{stamp} {notice}")
    imgui.pop_text_wrap_pos()
    imgui.end_child()
    _change_plot(state)


def _change_plot(state: AppState) -> None:
    history = list(state.engine.history)
    if len(history) < 2:
        return
    steps = np.array([h.step for h in history], np.float64)
    image = np.maximum(np.array([h.image_change for h in history], np.float64), 1e-7)
    top = np.maximum(np.array([h.top_change for h in history], np.float64), 1e-7)
    error = np.maximum(np.array([h.error for h in history], np.float64), 1e-7)
    if implot.begin_plot("change per step, prediction error##change", imgui.ImVec2(-1, 150)):
        implot.setup_axes("step", "RMS", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
        implot.setup_axis_scale(implot.ImAxis_.y1, implot.Scale_.log10)
        implot.plot_line("image change", steps, image)
        implot.plot_line("top layer change", steps, top)
        implot.plot_line("prediction error", steps, error)
        implot.end_plot()


def _transport(state: AppState) -> None:
    r = state.registry
    imgui.separator_text("Dream")
    paused = r["paused"]
    if action_button(state, "Play" if paused else "Pause", "pause", imgui.ImVec2(70, 0)):
        actions.toggle_pause(state)
    _remember(state, "pause")
    imgui.same_line()
    imgui.begin_disabled(not paused)
    if imgui.button("Step", imgui.ImVec2(60, 0)):
        state.step_requested = True
    imgui.end_disabled()
    imgui.same_line()
    if action_button(state, "Reset to noise", "reset"):
        actions.reset_to_noise(state)
    _remember(state, "reset")
    dreaming = r["dream"] > 0
    color = imgui.ImVec4(0.55, 0.25, 0.75, 1.0) if dreaming else imgui.ImVec4(0.25, 0.3, 0.4, 1.0)
    imgui.push_style_color(imgui.Col_.button, color)
    if action_button(state, "Dreaming (d)" if dreaming else "Dream (d)", "dream", imgui.ImVec2(-1, 32)):
        actions.toggle_dream(state)
    imgui.pop_style_color()
    _remember(state, "dream")
    param_widget(state, r.param("dream"), label="dream amount")
    if state.engine.capabilities.code_operations:       # calm ↔ wild moves a model's code
        param_widget(state, r.param("motion"))
    param_widget(state, r.param("mode"))
    param_widget(state, r.param("input_noise"))


def _inputs(state: AppState) -> None:
    imgui.separator_text("Source and model")
    names = list(SOURCES)
    if state.source_spec not in names:
        names.append(state.source_spec)
    playing = state.engine.source.name
    # the box shows what really plays (a missing webcam's stand-in), the list what can be asked for
    asked = state.source_spec
    shown = Path(asked).name if asked not in SOURCES else asked          # a file by its name, not its folders
    preview = shown if playing.startswith(asked) or playing == shown else f"{playing} (for {shown})"
    picked = _combo(state, "source", preview, names, current=state.source_spec)
    if picked is not None and picked != state.source_spec:
        actions.switch_source(state, picked)
    imgui.set_next_item_width(imgui.get_content_region_avail().x - 150)
    _, state.path_input = imgui.input_text("##path", state.path_input)
    _remember(state, "path")
    imgui.set_item_tooltip("a video or image path; it loops")
    imgui.same_line()
    if imgui.button("Play path") and state.path_input.strip():
        actions.switch_source(state, state.path_input.strip())
    imgui.same_line()
    if imgui.button("Open...##source"):
        _ask(state, "source", "Play a video or image", dialogs.VIDEO_AND_IMAGES)
    _remember(state, "open:source")
    cards = state.model_cards()
    models = list(cards) or [state.engine.loaded.name]
    name = state.engine.loaded.name
    if name not in models:
        models.append(name)
    picked = _combo(state, "model", name, models, tooltips={m: _card_summary(cards.get(m, {})) for m in models})
    if picked is not None and picked != name:
        actions.switch_model(state, picked)
    imgui.same_line()
    if imgui.button("Open...##model"):
        _ask(state, "model", "Load a model checkpoint", dialogs.MODELS)
    _size_picker(state)


def _ask(state: AppState, purpose: str, title: str, filters: list[str], folder: bool = False) -> None:
    problem = state.dialog.ask(purpose, title, filters, folder=folder)
    if problem:
        state.notify(problem)


def _size_picker(state: AppState) -> None:
    engine = state.engine
    capabilities = engine.capabilities
    if capabilities.fixed_size:
        imgui.text_colored(DIM, f"size: {engine.size}px (fixed by the model)")
        return
    sizes = sorted({s for s in SIZES if capabilities.suits(s)} | {engine.size})
    labels = [f"{s}px" for s in sizes]
    changed, index = imgui.combo("size", sizes.index(engine.size), labels)
    _remember(state, "size")
    if changed and sizes[index] != engine.size:
        actions.switch_size(state, sizes[index])


def _combo(state: AppState, key: str, preview: str, options: list[str],
           tooltips: dict[str, str] | None = None, current: str | None = None) -> str | None:
    """A drop-down showing ``preview`` whose box and open items the UI probe reports (``key`` and
    ``key:option``, for tests that click them); ``current`` (default: the preview) is the option
    marked selected. Returns the option picked this frame."""
    picked = None
    current = preview if current is None else current
    opened = imgui.begin_combo(key, preview)
    _remember(state, key)
    if opened:
        for option in options:
            if imgui.selectable(option, option == current)[0]:
                picked = option
            _remember(state, f"{key}:{option}")
            if tooltips:
                imgui.set_item_tooltip(tooltips[option])
        imgui.end_combo()
    return picked


def _card_summary(card: dict) -> str:
    if not card:
        return "no card"
    if "error" in card:
        return card["error"]
    arch = card.get("architecture", {})
    widths = "-".join(map(str, arch.get("config", {}).get("widths", [])))
    lines = [f"{arch.get('kind', '?')} {widths}", card.get("description", "")]
    psnr = card.get("validation", {}).get("psnr_db")
    if psnr:
        lines.append(f"validation PSNR at 256px: {psnr:.1f} dB")
    training = card.get("training", {})
    if "steps" in training:
        lines.append(f"trained {training['steps']} steps on {card.get('data', '?')}")
    return "\n".join(x for x in lines if x)


def _view(state: AppState) -> None:
    r = state.registry
    view = r["view"]
    imgui.text("view:")
    imgui.same_line()
    for i, name in enumerate(r.param("view").choices):
        if i:
            imgui.same_line()
        if imgui.radio_button(name, view == name):
            r.set("view", name)
    if view != "main":
        param_widget(state, r.param("error_gain"))


def _model_section(state: AppState) -> None:
    """The model's own controls (the registry groups its kind declares) and its plots."""
    r, engine = state.registry, state.engine
    groups = engine.loaded.kind.panel_groups
    curves = engine.model.curves()
    if not groups and not curves:
        return
    imgui.separator_text(engine.loaded.name)
    for group in groups:
        for p in r.params(group):
            if _visible(r, p):
                param_widget(state, p)
    for i, curve in enumerate(curves):
        if implot.begin_plot(f"{curve.title}##curve{i}", imgui.ImVec2(-1, 170)):
            implot.setup_axes(curve.x_label, "", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
            implot.setup_axis_scale(implot.ImAxis_.y1, implot.Scale_.log10)
            implot.setup_legend(implot.Location_.north_east)
            for label, (x, y) in curve.lines.items():
                implot.plot_line(label, x, np.maximum(y, 1e-7))
            implot.end_plot()
        _remember(state, f"curve.{i}")


def _visible(registry: Registry, param: Param) -> bool:
    if not param.visible_if:
        return True
    name = param.visible_if.lstrip("!")
    return bool(registry[name]) != param.visible_if.startswith("!")


def _layers(state: AppState) -> None:
    r = state.registry
    engine = state.engine
    _model_section(state)
    imgui.separator_text("Dynamics")
    for p in r.params("dynamics"):
        if engine.capabilities.code_operations or p.name == "steps_per_frame":    # the others act on a code
            param_widget(state, p)
    if engine.capabilities.code_operations:
        for name in ("fatigue", "wander"):
            param_widget(state, r.param(name))
    imgui.separator_text("Layers")
    param_widget(state, r.param("rule"))
    rule = r["rule"]
    source = engine.rules.sources.get(rule)
    if source is not None and source.description:
        imgui.push_text_wrap_pos(0.0)
        imgui.text_colored(DIM, source.description)
        imgui.pop_text_wrap_pos()
    rule_params = r.params(f"rule: {rule}")
    for p in (p for p in rule_params if not p.per_layer):
        param_widget(state, p)
    per_layer = [p for p in rule_params if p.per_layer]
    n = engine.n_layers
    for layer in range(1, n + 1):
        channels = engine.layout.bands[layer - 1].channels
        side = engine.layout.bands[layer - 1].width
        if imgui.tree_node_ex(f"layer {layer}  ({channels} channels, {side}x{side})##layer{layer}",
                              imgui.TreeNodeFlags_.default_open if layer == 1 else 0):
            param_widget(state, r.param("lesion.up"), layer, "cut bottom-up")
            _remember(state, f"lesion.up.{layer}")
            imgui.same_line()
            param_widget(state, r.param("lesion.down"), layer, "cut top-down")
            for p in per_layer:
                param_widget(state, p, layer)
            imgui.tree_pop()


def _attractors(state: AppState) -> None:
    r, ex = state.registry, state.explorer
    imgui.separator_text("Attractors")
    verdict = ex.detector.verdict
    color = {"fixed point": GREEN, "cycle": CYAN}.get(verdict.kind, DIM)
    imgui.text_colored(color, verdict.describe())
    _remember(state, "verdict")
    if action_button(state, "Kick (k)", "kick", imgui.ImVec2(110, 0)):
        actions.kick(state)
    imgui.set_item_tooltip("add noise of the chosen strength to every layer")
    imgui.same_line()
    if action_button(state, "Dream from this frame", "from_frame", imgui.ImVec2(-1, 0)):
        actions.dream_from_static_frame(state)
    _remember(state, "from_frame")
    imgui.set_item_tooltip("hold the current source frame for 'hold steps', then dream from it")
    if ex.hold_remaining:
        imgui.text_colored(WARN, f"holding the frame: dreaming in {ex.hold_remaining} steps")
    _gallery(state)
    _trajectory_plot(state)
    mouse = r["explore.mouse"]
    imgui.text("drag:")
    for choice in r.param("explore.mouse").choices:
        imgui.same_line()
        if imgui.radio_button(f"{choice}##mouse", mouse == choice):
            r.set("explore.mouse", choice)
    for name in ("explore.strength", "explore.radius", "explore.hold"):
        param_widget(state, r.param(name))
    if imgui.tree_node("detector"):
        param_widget(state, r.param("explore.tolerance"))
        param_widget(state, r.param("explore.patience"))
        imgui.tree_pop()


def _trajectory_plot(state: AppState) -> None:
    points, attractors = state.explorer.trajectory_points()
    if len(points) < 3:
        return
    if implot.begin_plot("top layer, PCA of the last 300 steps", imgui.ImVec2(-1, 170)):
        implot.setup_axes("", "", implot.AxisFlags_.auto_fit | implot.AxisFlags_.no_tick_labels,
                          implot.AxisFlags_.auto_fit | implot.AxisFlags_.no_tick_labels)
        implot.plot_line("path", np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1]))
        implot.plot_scatter("now", points[-1:, 0].copy(), points[-1:, 1].copy())
        if len(attractors):
            implot.plot_scatter("attractors", np.ascontiguousarray(attractors[:, 0]),
                                np.ascontiguousarray(attractors[:, 1]))
        implot.end_plot()


def _gallery(state: AppState) -> None:
    ex = state.explorer
    entries = ex.gallery.entries
    imgui.text(f"gallery: {len(entries)} attractor{'s' if len(entries) != 1 else ''}")
    for i, entry in enumerate(entries):
        if i % 5:
            imgui.same_line()
        tex = ex.texture(state.engine.ctx, entry)
        if imgui.image_button(f"attractor{i}", imgui.ImTextureRef(tex.glo), imgui.ImVec2(64, 64)):
            actions.restore_attractor(state, entry)
        imgui.set_item_tooltip(entry.label() + " (click to restore)")
    if imgui.button("Save gallery") and entries:
        actions.save_gallery(state)
    imgui.same_line()
    if imgui.button("Load gallery..."):
        _ask(state, "gallery", "Load a saved gallery (its folder)", [], folder=True)
    imgui.set_item_tooltip("a folder saved by Save gallery")


def _occluder(state: AppState) -> None:
    r = state.registry
    imgui.separator_text("Occluder")
    for p in r.params("occluder"):
        param_widget(state, p)


def _feedback(state: AppState) -> None:
    r = state.registry
    imgui.separator_text("Feedback transform")
    for p in r.params("feedback"):
        param_widget(state, p)
    if imgui.button("Reset transform"):
        for p in r.params("feedback"):
            r.reset(p.name)


def _capture(state: AppState) -> None:
    imgui.separator_text("Capture")
    recording = state.recording
    label = "Stop recording (r)" if recording else "Record (r)"
    if recording:
        imgui.push_style_color(imgui.Col_.button, imgui.ImVec4(0.7, 0.15, 0.15, 1.0))
    if action_button(state, label, "record", imgui.ImVec2(180, 0)):
        actions.toggle_recording(state)
    if recording:
        imgui.pop_style_color()
    _remember(state, "record")
    imgui.same_line()
    if action_button(state, "Screenshot (s)", "screenshot", imgui.ImVec2(-1, 0)):
        state.screenshot_requested = True
    _remember(state, "screenshot")
    if recording:
        rec = recording.sink
        dropped = rec.frames_dropped
        imgui.text_colored(RED if dropped else DIM, f"{rec.path.name}: {rec.frames_written} frames, "
                                                    f"{dropped} dropped")
    imgui.text_colored(DIM, f"saving to {state.capture_dir}")


def _output_window(state: AppState) -> None:
    from app.ui.output_window import monitor_names

    imgui.separator_text("Output window")
    monitors = monitor_names()
    out = state.output_window
    chosen = state.output_monitor if state.output_monitor < len(monitors) else len(monitors) - 1
    changed, chosen = imgui.combo("monitor", chosen, [f"{i}: {name}" for i, name in enumerate(monitors)])
    _remember(state, "output_monitor")
    if changed:
        state.output_monitor = chosen
        if out is not None:                      # move it: close and open on the new monitor
            actions.close_output_window(state)
            actions.open_output_window(state, chosen)
    if imgui.button("Close the output window" if out is not None else "Open the output window",
                    imgui.ImVec2(-1, 0)):
        actions.toggle_output_window(state, state.output_monitor)
    _remember(state, "output_window")
    imgui.set_item_tooltip("the view alone, borderless on the chosen monitor at its resolution (a movable window "
                           "with one monitor); f toggles it fullscreen")
    if out is not None:
        w, h = out.framebuffer_size
        imgui.text_colored(DIM, f"{w}×{h}{'  fullscreen' if out.fullscreen else ''}")


def _senders(state: AppState) -> None:
    imgui.separator_text("Send to other programs")
    for kind, label in SENDER_LABELS.items():
        sink = state.senders.get(kind)
        changed, _ = imgui.checkbox(f"{label}##send-{kind}", sink is not None)
        _remember(state, f"send:{kind}")
        if changed:
            actions.toggle_sender(state, kind)
        if sink is not None:
            imgui.same_line()
            imgui.text_colored(RED if sink.frames_dropped else DIM,
                               f"{sink.frames_written} sent, {sink.frames_dropped} dropped")


def _shortcuts() -> None:
    imgui.separator_text("Keyboard")
    for key, what in SHORTCUTS:
        imgui.text(key)
        imgui.same_line(100)
        imgui.text_colored(DIM, what)
