"""The tempo, modulators and audio part of the panel (the Play tab), and the modulation items of a
numeric control's right-click menu.

``remember(key)`` records the rect of the item just drawn (for the window's UI probe): ``tempo:bpm``,
``tempo:tap``, ``tempo:beat``, ``mod:<setting>:<index>``, ``audio:input``, ``audio:meter:<feature>``,
…; in a control's menu ``mod:add:<address>``, ``mod:envelope:<address>``,
``mod:audio:<feature>:<address>`` and ``mod:remove:<address>``.
"""

from __future__ import annotations

import time
from typing import Callable

from imgui_bundle import imgui

from app.controllers.audio import SENSITIVITY
from app.controllers.audio_analysis import FEATURES, LEVELS
from app.controllers.midi_mapping import action_target
from app.controllers.modulators import BEAT_LENGTHS, MAX_HZ, SHAPES, Envelope, beat_label
from app.controllers.modulation import numeric_param
from app.controllers.tempo import BPM, MAX_BPM, MIN_BPM
from app.errors import UserError
from app.params import ParamError
from app.ui import midi_panel

WARN = imgui.ImVec4(1.0, 0.78, 0.3, 1.0)
LAMP_ON = imgui.ImVec4(1.0, 0.45, 0.2, 1.0)
LAMP_OFF = imgui.ImVec4(0.25, 0.22, 0.22, 1.0)
LAMP_LIT = 0.15                  # of a beat the lamp stays lit
DEVICES_REFRESH_S = 3.0
SOUNDS = ["Sounds", "*.wav *.flac *.mp3 *.ogg *.opus *.m4a *.aac *.aiff", "All files", "*"]
OFF, FILE = "off", "sound file…"


def menu_items(state, address: str, remember: Callable[[str], None] | None = None) -> None:
    """Add LFO, Add envelope, Map audio: <feature>, and Remove modulator for the numeric parameter at
    ``address``, drawn inside its control's right-click popup."""
    controllers = state.controllers
    if controllers is None:
        return
    remember = remember or (lambda key: _keep_rect(state, key))
    bank, audio = controllers.modulators, controllers.audio
    imgui.separator()
    if imgui.menu_item_simple("Add LFO"):
        _try(state, lambda: bank.add_lfo(address))
    remember(f"mod:add:{address}")
    if imgui.menu_item_simple("Add envelope"):
        _try(state, lambda: bank.add_envelope(address))
    remember(f"mod:envelope:{address}")
    for feature in FEATURES:
        if imgui.menu_item_simple(f"Map audio: {feature}"):
            _try(state, lambda f=feature: audio.map(f, address))
        remember(f"mod:audio:{feature}:{address}")
    if bank.on(address) or audio.on(address):
        if imgui.menu_item_simple("Remove modulator"):
            bank.remove_address(address)
            audio.unmap_address(address)
        remember(f"mod:remove:{address}")


def draw_section(state, remember: Callable[[str], None]) -> None:
    """Tempo (BPM, tap, where the tempo comes from, a lamp on the beat), the modulators with their
    settings, and audio (the input, level meters, the mappings and onset triggers)."""
    controllers = state.controllers
    if controllers is None:
        return
    _tempo(state, controllers, remember)
    _modulators(state, controllers, remember)
    _audio(state, controllers, remember)


def _tempo(state, controllers, remember) -> None:
    imgui.separator_text("Tempo")
    tempo = controllers.tempo
    imgui.set_next_item_width(110)
    changed, bpm = imgui.input_float("BPM##tempo", float(state.registry[BPM]), 1.0, 10.0, "%.1f",
                                     imgui.InputTextFlags_.enter_returns_true)
    imgui.set_item_tooltip("type a tempo and press enter, or step it with - and +")
    remember("tempo:bpm")
    if changed:
        state.registry.set(BPM, round(min(MAX_BPM, max(MIN_BPM, bpm)), 2))
    imgui.same_line()
    if imgui.button("Tap##tempo"):
        controllers.actions.request("tap")
    remember("tempo:tap")
    imgui.set_item_tooltip("tap twice or more on the beat (right click: learn a MIDI pad for it)")
    if imgui.begin_popup_context_item("menu##tempo-tap"):
        midi_panel.menu_items(state, action_target("tap"))
        imgui.end_popup()
    imgui.same_line()
    beats = tempo.beats(controllers.now)
    _lamp(beats % 1.0 < LAMP_LIT)
    remember("tempo:beat")
    imgui.same_line()
    imgui.text_disabled(f"beat {int(beats) % 4 + 1}  from {tempo.source}")


def _lamp(lit: bool, radius: float = 7.0) -> None:
    at = imgui.get_cursor_screen_pos()
    centre = imgui.ImVec2(at.x + radius, at.y + imgui.get_text_line_height() / 2 + 1)
    imgui.get_window_draw_list().add_circle_filled(centre, radius, imgui.get_color_u32(LAMP_ON if lit else LAMP_OFF))
    imgui.dummy(imgui.ImVec2(2 * radius, imgui.get_text_line_height()))


def _modulators(state, controllers, remember) -> None:
    imgui.separator_text("Modulators")
    bank = controllers.modulators
    if not bank.modulators:
        imgui.text_disabled("right-click a slider: Add LFO, Add envelope, Map audio")
    for index, m in enumerate(list(bank.modulators)):
        imgui.push_id(f"mod{index}")
        if _exists(state, m.address):
            imgui.text(m.address)
        else:
            imgui.text_colored(WARN, f"{m.address} (not in this rule)")
        imgui.same_line()
        imgui.text_disabled(m.describe())
        imgui.same_line()
        if imgui.small_button("remove"):
            bank.remove(m)
        remember(f"mod:remove:{index}")
        imgui.indent()
        if isinstance(m, Envelope):
            _envelope(bank, m, index, remember)
        else:
            _lfo(m, index, remember)
        imgui.unindent()
        imgui.pop_id()
    _add_row(state, bank, remember)


def _lfo(m, index: int, remember) -> None:
    imgui.set_next_item_width(120)
    changed, shape = imgui.combo("shape", SHAPES.index(m.shape), list(SHAPES))
    remember(f"mod:shape:{index}")
    if changed:
        m.shape = SHAPES[shape]
    imgui.same_line()
    imgui.set_next_item_width(90)
    units = ["beats", "Hz"]
    changed, unit = imgui.combo("rate in", 0 if m.hz is None else 1, units)
    remember(f"mod:unit:{index}")
    if changed:
        m.hz = None if unit == 0 else (m.hz or 1.0)
    imgui.set_next_item_width(200)
    if m.hz is None:
        lengths = list(BEAT_LENGTHS) if m.beats in BEAT_LENGTHS else sorted({*BEAT_LENGTHS, m.beats})
        changed, at = imgui.combo("beats per cycle", lengths.index(m.beats), [beat_label(b) for b in lengths])
        if changed:
            m.beats = lengths[at]
    else:
        changed, hz = imgui.slider_float("Hz", m.hz, 0.01, MAX_HZ, "%.2f", imgui.SliderFlags_.logarithmic)
        if changed:
            m.hz = min(MAX_HZ, max(0.01, hz))
    remember(f"mod:rate:{index}")
    for name, low, high in (("depth", -1.0, 1.0), ("offset", -1.0, 1.0), ("phase", 0.0, 1.0)):
        imgui.set_next_item_width(200)
        changed, value = imgui.slider_float(name, getattr(m, name), low, high, "%.2f")
        remember(f"mod:{name}:{index}")
        if changed:
            setattr(m, name, min(high, max(low, value)))


def _envelope(bank, m: Envelope, index: int, remember) -> None:
    imgui.set_next_item_width(120)
    changed, name = imgui.input_text("name", m.name)
    imgui.set_item_tooltip("the action envelope with this name fires it (with no name: every envelope)")
    remember(f"mod:name:{index}")
    if changed and name.strip():
        m.name = name.strip()
    imgui.same_line()
    if imgui.small_button("fire"):
        bank.fire(m.name)
    remember(f"mod:fire:{index}")
    for setting, low, high, unit in (("attack", 0.0, 5.0, " s"), ("release", 0.0, 10.0, " s"), ("depth", -1.0, 1.0, "")):
        imgui.set_next_item_width(200)
        changed, value = imgui.slider_float(setting, getattr(m, setting), low, high, f"%.2f{unit}")
        remember(f"mod:{setting}:{index}")
        if changed:
            setattr(m, setting, min(high, max(low, value)))


def _pick(state, key: str, options: list[str], width: float) -> str:
    """A drop-down over ``options`` whose choice the panel's fields keep under ``key``; the option chosen."""
    fields = state.panel_fields
    fields[key] = min(fields[key], len(options) - 1)
    imgui.set_next_item_width(width)
    _, fields[key] = imgui.combo(f"##{key}", fields[key], options)
    return options[fields[key]]


def _add_row(state, bank, remember) -> None:
    addresses = _numeric_addresses(state)
    if not addresses:
        return
    address = _pick(state, "mod.add", addresses, 170)
    remember("mod:pick")
    imgui.same_line()
    if imgui.button("+ LFO"):
        _try(state, lambda: bank.add_lfo(address))
    remember("mod:new-lfo")
    imgui.same_line()
    if imgui.button("+ envelope"):
        _try(state, lambda: bank.add_envelope(address))
    remember("mod:new-envelope")


def _audio(state, controllers, remember) -> None:
    imgui.separator_text("Audio")
    audio = controllers.audio
    _audio_input(state, audio, remember)
    if audio.message:
        imgui.text_disabled(audio.message)
    features = audio.features()
    for name in LEVELS:
        imgui.progress_bar(features[name], imgui.ImVec2(240, 0), f"{name} {features[name]:.2f}")
        remember(f"audio:meter:{name}")
    _lamp(audio.onset)
    remember("audio:meter:onset")
    imgui.same_line()
    imgui.text("onset")
    imgui.same_line()
    imgui.set_next_item_width(150)
    changed, value = imgui.slider_float("sensitivity##audio", float(state.registry[SENSITIVITY]), 0.0, 1.0, "%.2f")
    remember("audio:sensitivity")
    if changed:
        state.registry.set(SENSITIVITY, min(1.0, max(0.0, value)))
    _audio_mappings(state, audio, remember)
    _audio_triggers(state, audio, remember)


def _audio_input(state, audio, remember) -> None:
    now = time.monotonic()
    fields = state.panel_fields
    if now - fields["audio.devices_read_at"] > DEVICES_REFRESH_S:
        fields["audio.devices"], fields["audio.devices_read_at"] = audio.devices(), now
    current = audio.input.name if audio.input is not None else OFF
    options = list(dict.fromkeys([OFF, *fields["audio.devices"], *([current] if current != OFF else []), FILE]))
    imgui.set_next_item_width(240)
    changed, index = imgui.combo("input##audio", options.index(current), options)
    remember("audio:input")
    if changed and options[index] != current:
        choice = options[index]
        if choice == OFF:
            audio.close_input()
        elif choice == FILE:
            problem = state.dialog.ask("audio", "Play a sound file", SOUNDS)
            if problem:
                state.notify(problem)
        elif choice in fields["audio.devices"]:
            _try(state, lambda: state.notify(audio.open_device(choice)))
    imgui.set_next_item_width(240)
    _, fields["audio.path"] = imgui.input_text_with_hint("##audio-path", "a sound file's path", fields["audio.path"])
    remember("audio:path")
    imgui.same_line()
    if imgui.button("play##audio-path") and fields["audio.path"].strip():
        _try(state, lambda: state.notify(audio.open_file(fields["audio.path"].strip())))
    remember("audio:play")


def _audio_mappings(state, audio, remember) -> None:
    for index, m in enumerate(list(audio.mappings)):
        imgui.push_id(f"audio-map{index}")
        imgui.text(f"{m.feature} -> {m.address}")
        imgui.same_line()
        if imgui.small_button("remove"):
            audio.unmap(m)
        remember(f"audio:remove:{index}")
        imgui.indent()
        imgui.set_next_item_width(90)
        changed, feature = imgui.combo("feature", FEATURES.index(m.feature), list(FEATURES))
        remember(f"audio:feature:{index}")
        if changed:
            m.feature = FEATURES[feature]
        for setting, low, high, unit in (("depth", -1.0, 1.0, ""), ("smoothing", 0.0, 2.0, " s")):
            imgui.set_next_item_width(200)
            changed, value = imgui.slider_float(setting, getattr(m, setting), low, high, f"%.2f{unit}")
            if setting == "smoothing":
                imgui.set_item_tooltip("seconds the mapped value takes to fall back (it rises at once)")
            remember(f"audio:{setting}:{index}")
            if changed:
                setattr(m, setting, min(high, max(low, value)))
        imgui.unindent()
        imgui.pop_id()


def _audio_triggers(state, audio, remember) -> None:
    for index, trigger in enumerate(list(audio.triggers)):
        imgui.push_id(f"audio-trigger{index}")
        imgui.text(f"onset -> {trigger.action}" + (f" {trigger.argument}" if trigger.argument else ""))
        imgui.same_line()
        if imgui.small_button("remove"):
            audio.remove_trigger(trigger)
        remember(f"audio:remove-trigger:{index}")
        imgui.pop_id()
    names = state.controllers.actions.names()
    if not names:
        return
    action = _pick(state, "audio.action", names, 140)
    remember("audio:pick-action")
    imgui.same_line()
    if imgui.button("fire on onsets"):
        _try(state, lambda: audio.trigger(action))
    remember("audio:add-trigger")


def _numeric_addresses(state) -> list[str]:
    out = []
    for param in state.registry.params():
        if param.kind in ("float", "int") and param.min is not None and param.max is not None:
            out.append(param.name)
    return out


def _exists(state, address: str) -> bool:
    try:
        numeric_param(state.registry, address)
        return True
    except ParamError:
        return False


def _try(state, do: Callable[[], object]) -> None:
    try:
        do()
    except (UserError, ValueError) as e:          # ParamError and ActionError are ValueErrors
        state.notify(str(e))


def _keep_rect(state, key: str) -> None:
    lo, hi = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    state.widgets[key] = [lo.x, lo.y, hi.x, hi.y]
