"""The MIDI part of the panel: ports, the mappings and learning (the Play tab), and the Learn / Forget
items of any control's right-click menu.

A control's target is its parameter address (``dream``, ``lesion.up.3``) or, for a button that
fires an action, ``action_target(name, argument)`` (``action:kick``, ``action:preset=3``).
``remember(key)`` records the rect of the item just drawn (for the window's UI probe).
"""

from __future__ import annotations

from typing import Callable

from imgui_bundle import imgui

from app.controllers.midi import MidiController
from app.controllers.midi_mapping import Mapping, action_target, base_param, describe_target
from app.params import ParamError

__all__ = ["action_target", "draw_section", "is_learning", "menu_items"]

WARN = imgui.ImVec4(1.0, 0.78, 0.3, 1.0)
CYAN = imgui.ImVec4(0.4, 0.85, 1.0, 1.0)
NONE = "none"


def _midi(state) -> MidiController | None:
    return getattr(state.controllers, "midi", None) if state.controllers is not None else None


def is_learning(state, target: str) -> bool:
    """Whether the next CC or note will be mapped to ``target`` (the panel highlights its control)."""
    midi = _midi(state)
    return midi is not None and midi.learning == target


def menu_items(state, target: str, remember: Callable[[str], None] | None = None) -> None:
    """"Learn MIDI" (or cancel it) and "Forget MIDI (CC 7 ch 1)" for ``target``, drawn inside the
    right-click popup of its control; ``remember``: as draw_section's (by default the rects go to
    ``state.widgets``)."""
    midi = _midi(state)
    if midi is None:
        return
    remember = remember or (lambda key: _keep_rect(state, key))
    if midi.learning == target:
        if imgui.menu_item_simple("Cancel MIDI learn"):
            midi.cancel_learn()
    elif imgui.menu_item_simple("Learn MIDI"):
        midi.learn(target)
    remember(f"midi:learn:{target}")
    for mapping in midi.mappings_of(target):
        if imgui.menu_item_simple(f"Forget MIDI ({mapping.control.describe()})"):
            midi.forget(target)
        remember(f"midi:forget:{target}")


def draw_section(state, remember: Callable[[str], None]) -> None:
    """The MIDI section: input ports with checkboxes (hot-plugged ones appear), a network port, the
    feedback output, what is being learned, and the mappings, each editable and removable."""
    imgui.separator_text("MIDI")
    midi = _midi(state)
    if midi is None:
        imgui.text_disabled("MIDI is off")
        return
    _inputs(state, midi, remember)
    _output(midi, remember)
    _learning(midi, remember)
    _mappings(state, midi, remember)


def _inputs(state, midi: MidiController, remember) -> None:
    if midi.problem:
        imgui.push_style_color(imgui.Col_.text, WARN)
        imgui.text_wrapped(midi.problem)
        imgui.pop_style_color()
    names = list(dict.fromkeys([*midi.available_inputs(), *midi.inputs]))
    names += [w for w in midi.wanted_inputs if not any(w.lower() in n.lower() for n in names)]
    if not names and not midi.problem:
        imgui.text_disabled("no MIDI input: plug one in and it appears here")
    for name in names:
        chosen = midi.is_chosen(name)
        changed, chosen = imgui.checkbox(f"{name}##midi-in", chosen)
        remember(f"midi:port:{name}")
        if changed:
            midi.choose_input(name, chosen)
        if midi.is_chosen(name) and not midi.is_open(name):
            imgui.same_line()
            imgui.text_disabled("(waiting for it)")
    imgui.set_next_item_width(200)
    fields = state.panel_fields
    _, fields["midi.network"] = imgui.input_text_with_hint("##midi-network", "HOST:PORT", fields["midi.network"])
    imgui.set_item_tooltip("MIDI from another program over TCP: a mido.sockets.PortServer at HOST:PORT")
    imgui.same_line()
    if imgui.button("connect##midi-network") and fields["midi.network"].strip():
        midi.choose_input(fields["midi.network"].strip(), True)
        fields["midi.network"] = ""
    remember("midi:network")


def _output(midi: MidiController, remember) -> None:
    options = [NONE, *dict.fromkeys([*midi.available_outputs(), *([midi.wanted_output] if midi.wanted_output else [])])]
    current = next((i for i, name in enumerate(options[1:], 1) if midi.wanted_output and
                    midi.wanted_output.lower() in name.lower()), 0)
    changed, index = imgui.combo("feedback out##midi", current, options)
    imgui.set_item_tooltip("mapped parameters are sent back here, so a controller's LEDs and motor faders follow")
    remember("midi:output")
    if changed and index != current:
        midi.choose_output("" if index == 0 else options[index])


def _learning(midi: MidiController, remember) -> None:
    if midi.learning is not None:
        imgui.text_colored(CYAN, f"learning {describe_target(midi.learning)}: move a knob or press a pad")
        imgui.same_line()
        if imgui.small_button("cancel##midi-learn"):
            midi.cancel_learn()
        remember("midi:cancel")
    elif midi.last_learned:
        imgui.text_disabled(f"learned {midi.last_learned}")
    else:
        imgui.text_disabled("right-click a control, then Learn MIDI")


def _mappings(state, midi: MidiController, remember) -> None:
    for mapping in list(midi.mappings):
        imgui.push_id(mapping.target)
        imgui.text(mapping.describe())
        imgui.same_line()
        if imgui.small_button("remove"):
            midi.forget(mapping.target)
        remember(f"midi:remove:{mapping.target}")
        if not mapping.is_action:
            _mapping_options(state, midi, mapping, remember)
        imgui.pop_id()
    for index, (entry, problem) in enumerate(list(midi.unfit)):
        imgui.push_id(f"unfit{index}")
        imgui.push_style_color(imgui.Col_.text, WARN)
        imgui.text_wrapped(f"unused: {problem}")
        imgui.pop_style_color()
        imgui.set_item_tooltip(str(entry))
        imgui.same_line()
        if imgui.small_button("remove"):
            midi.remove_unfit(index)
        remember(f"midi:remove-unused:{index}")
        imgui.pop_id()


def _mapping_options(state, midi: MidiController, mapping: Mapping, remember) -> None:
    try:
        param = base_param(midi.registry, mapping.target)
    except ParamError:
        return
    target = mapping.target
    imgui.indent()
    if param.kind in ("float", "int"):
        low = param.min if mapping.low is None else mapping.low
        high = param.max if mapping.high is None else mapping.high
        imgui.set_next_item_width(200)
        if param.kind == "int":
            changed, low, high = imgui.drag_int_range2("range", int(low), int(high), 0.2, int(param.min),
                                                       int(param.max))
        else:
            speed = (param.max - param.min) / 300
            changed, low, high = imgui.drag_float_range2("range", low, high, speed, param.min, param.max, "%.3g")
        imgui.set_item_tooltip(f"the part of {param.name}'s range the control sweeps")
        remember(f"midi:range:{target}")
        if changed:
            _edit(state, midi, mapping, low=None if low == param.min else low,
                  high=None if high == param.max else high)
        if imgui.is_item_deactivated_after_edit():
            midi.save()
    changed, invert = imgui.checkbox("invert", mapping.invert)
    remember(f"midi:invert:{target}")
    if changed:
        _edit(state, midi, mapping, invert=invert)
        midi.save()
    if mapping.control.kind == "note" and param.kind != "choice":
        imgui.same_line()
        changed, momentary = imgui.checkbox("momentary", mapping.momentary)
        imgui.set_item_tooltip("on while the pad is held (off: each press toggles)")
        remember(f"midi:momentary:{target}")
        if changed:
            _edit(state, midi, mapping, momentary=momentary)
            midi.save()
    imgui.unindent()


def _edit(state, midi: MidiController, mapping: Mapping, **changes) -> None:
    problem = midi.edit(mapping, **changes)
    if problem:
        state.controllers.host.notify(problem)


def _keep_rect(state, key: str) -> None:
    lo, hi = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    state.widgets[key] = [lo.x, lo.y, hi.x, hi.y]
