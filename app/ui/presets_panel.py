"""The panel's Presets tab: the bank as a grid of thumbnails (a click recalls, morphing over the morph
time), a name field with Save, Overwrite, Rename and Delete, and the morph's time and unit.

Keys 1 … 9 recall presets 1 … 9 (``app.ui.input``). The tab's own state (the name being typed, the
thumbnails uploaded to the GPU) is a ``PresetsTab`` in the window's state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import moderngl
import numpy as np
from imgui_bundle import imgui
from PIL import Image

from app.controllers.morph import TIME, UNIT, UNITS
from app.controllers.presets import Entry, PresetError
from app.errors import UserError
from app.ui import dialogs

SIDE = 80                     # a thumbnail's side in the grid, in panel pixels
TOOLTIP_WIDTH = 320
CONFIRM_S = 3.0               # Delete asks for a second click within this time
LIST_EVERY_S = 0.5            # the folders are listed again this often (presets saved elsewhere appear)
DIM = imgui.ImVec4(0.65, 0.65, 0.7, 1.0)
CURRENT = imgui.ImVec4(0.55, 0.25, 0.75, 1.0)


@dataclass
class PresetsTab:
    name: str = ""                          # the name field: what Save, Overwrite, Rename and Delete act on
    description: str = ""
    with_source: bool = True
    selected: str = ""                      # the preset clicked last (what Rename renames)
    delete_armed: tuple[str, float] = ("", 0.0)
    entries: list[Entry] = field(default_factory=list)
    listed_at: float = float("-inf")
    textures: dict[Path, tuple[int, moderngl.Texture | None]] = field(default_factory=dict)


def draw_tab(state, remember: Callable[[str], None]) -> None:
    """``state``: the window's AppState."""
    controllers, tab = state.controllers, state.presets_tab
    if controllers is None:
        return
    now = time.monotonic()
    if now - tab.listed_at > LIST_EVERY_S:
        tab.entries, tab.listed_at = controllers.presets.entries(), now
        _release_gone(tab, tab.entries)
    _grid(state, tab.entries, remember)
    imgui.separator_text("Morph")
    _morph(state, remember)
    imgui.separator_text("Save the look")
    _fields(tab, remember)
    _buttons(state, remember)


def _grid(state, entries: list[Entry], remember) -> None:
    controllers, tab = state.controllers, state.presets_tab
    if not entries:
        imgui.text_colored(DIM, "no presets yet: name the look below and Save it")
    style = imgui.get_style()
    button = SIDE + 2 * style.frame_padding.x             # a thumbnail with its frame
    gap = style.item_spacing.x
    columns = max(1, int((imgui.get_content_region_avail().x + gap) // (button + gap)))
    for i, entry in enumerate(entries):
        if i % columns:
            imgui.same_line()
        imgui.begin_group()
        current = entry.name == controllers.preset_name
        if current:
            imgui.push_style_color(imgui.Col_.button, CURRENT)
        texture = _texture(tab, state.engine.ctx, entry.thumbnail)
        size = imgui.ImVec2(SIDE, SIDE)
        if texture is not None:
            clicked = imgui.image_button(f"preset:{entry.name}", imgui.ImTextureRef(texture.glo), size)
        else:
            clicked = imgui.button(f"{_fit(entry.name, SIDE)}##preset:{entry.name}", imgui.ImVec2(button, button))
        remember(f"preset:{entry.name}")
        if current:
            imgui.pop_style_color()
        if imgui.is_item_hovered():
            _tooltip(controllers.presets, entry, i + 1)
        # the whole name, wrapped under the thumbnail: words split at - and _ as at spaces
        words = entry.name.replace("-", " ").replace("_", " ")
        imgui.push_style_color(imgui.Col_.text, DIM if not current else imgui.ImVec4(1, 1, 1, 1))
        imgui.push_text_wrap_pos(imgui.get_cursor_pos_x() + button)
        imgui.text_wrapped(f"{i + 1} {words}" if i < 9 else words)
        imgui.pop_text_wrap_pos()
        imgui.pop_style_color()
        imgui.end_group()
        if clicked:
            tab.name = tab.selected = entry.name
            controllers.actions.request("preset", entry.name)
    if imgui.button("Open a preset file...##preset"):
        problem = state.dialog.ask("preset", "Recall a preset file", dialogs.PRESETS,
                                   start=controllers.presets.user_dir)
        if problem:
            state.notify(problem)
    remember("preset:open")


def _tooltip(bank, entry: Entry, number: int) -> None:
    try:
        preset = bank.load(entry)
        where = "ships with the app" if entry.shipped else f"yours ({entry.path})"
        lines = [f"{number}. {entry.name}: {preset.description or 'no description'}",
                 f"model: {preset.model or 'any (keeps yours)'}; source: {preset.source or 'keeps yours'}; {where}",
                 "click: recall (morphing over the morph time)" + (f"; key {number}" if number <= 9 else "")]
    except PresetError as e:
        lines = [str(e)]
    imgui.begin_tooltip()
    imgui.push_text_wrap_pos(TOOLTIP_WIDTH)
    for line in lines:
        imgui.text_unformatted(line)
    imgui.pop_text_wrap_pos()
    imgui.end_tooltip()


def _fit(text: str, width: float) -> str:
    """``text`` cut to fit ``width`` pixels, ending in ".." where it was cut."""
    if imgui.calc_text_size(text).x <= width:
        return text
    while text and imgui.calc_text_size(text + "..").x > width:
        text = text[:-1]
    return text + ".."


def _fields(tab: PresetsTab, remember) -> None:
    imgui.set_next_item_width(-80)
    # a click in the field selects the name a thumbnail put there, so that typing replaces it
    _, tab.name = imgui.input_text_with_hint("name##preset", "name", tab.name, imgui.InputTextFlags_.auto_select_all)
    remember("preset:name")
    imgui.set_next_item_width(-80)
    _, tab.description = imgui.input_text_with_hint("description##preset", "one line: what it shows",
                                                     tab.description)
    remember("preset:description")
    _, tab.with_source = imgui.checkbox("with the source##preset", tab.with_source)
    imgui.set_item_tooltip("save the source that plays now in the preset (off: the preset keeps whatever source "
                           "plays when it is recalled, e.g. your webcam)")
    remember("preset:with_source")


def _buttons(state, remember) -> None:
    controllers, tab = state.controllers, state.presets_tab
    name = tab.name.strip()
    if imgui.button("Save##preset"):
        _save(state, name, overwrite=False)
    remember("preset:save")
    imgui.set_item_tooltip("the look now as a new preset of that name, with a thumbnail of the view")
    imgui.same_line()
    if imgui.button("Overwrite##preset"):
        _save(state, name, overwrite=True)
    remember("preset:overwrite")
    imgui.set_item_tooltip("the look now replaces the preset of that name (a shipped one: your own copy hides it)")
    imgui.same_line()
    if imgui.button("Rename##preset"):
        _do(state, lambda: _rename(state, name))
    remember("preset:rename")
    imgui.set_item_tooltip("the preset clicked last takes the name in the field")
    imgui.same_line()
    armed, at = tab.delete_armed
    confirming = armed == name and time.monotonic() - at < CONFIRM_S
    if imgui.button(("Delete? again##preset" if confirming else "Delete##preset")):
        if confirming:
            tab.delete_armed = ("", 0.0)
            _do(state, lambda: controllers.presets.delete(name))
        elif name:
            tab.delete_armed = (name, time.monotonic())
    remember("preset:delete")
    imgui.set_item_tooltip("delete the preset of that name (click twice); shipped presets are never deleted")


def _rename(state, name: str) -> str:
    tab = state.presets_tab
    controllers, old = state.controllers, tab.selected
    if not old:
        raise PresetError("click the preset to rename first, then type its new name")
    new = controllers.presets.rename(old, name).stem
    tab.selected = new
    if controllers.preset_name == old:
        controllers.preset_name = new
    return f"renamed preset {old} to {new}"


def _save(state, name: str, *, overwrite: bool) -> None:
    tab = state.presets_tab

    def save() -> str:
        preset = state.controllers.save_preset(name, description=tab.description.strip(), overwrite=overwrite,
                                               with_source=tab.with_source)
        tab.selected = preset.name
        number = state.controllers.presets.number_of(preset.name)
        return f"saved preset {number} {preset.name} to {preset.path}"
    _do(state, save)


def _do(state, change: Callable[[], str]) -> None:
    """Save, rename or delete: its line in the notices, and the grid listed again at once."""
    try:
        state.notify(change())
    except UserError as e:
        state.notify(str(e))
    state.presets_tab.listed_at = float("-inf")


def _morph(state, remember) -> None:
    registry = state.registry
    morph = state.controllers.morph
    param = registry.param(TIME)
    imgui.set_next_item_width(-150)
    changed, value = imgui.slider_float("##morph.time", registry[TIME], param.min, param.max, "%.2f")
    remember("preset:morph.time")
    imgui.set_item_tooltip(f"{TIME}: {param.help}")
    if changed:
        registry.set(TIME, value)
    imgui.same_line()
    imgui.set_next_item_width(-1)
    unit = registry[UNIT]
    changed, index = imgui.combo("##morph.unit", UNITS.index(unit), list(UNITS))
    remember("preset:morph.unit")
    if changed:
        registry.set(UNIT, UNITS[index])
    if morph.active:
        imgui.progress_bar(morph.progress, imgui.ImVec2(-1, 0), f"morphing to {state.controllers.preset_name}")
    elif registry[TIME] <= 0:
        imgui.text_colored(DIM, "morph time 0: a recall is at once")


def _texture(tab: PresetsTab, ctx: moderngl.Context, path: Path) -> moderngl.Texture | None:
    """The thumbnail at ``path`` on the GPU, uploaded again only when the file changes."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    cached = tab.textures.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    if cached is not None and cached[1] is not None:
        cached[1].release()
    texture = None
    if stamp:
        try:
            with Image.open(path) as image:
                pixels = np.ascontiguousarray(image.convert("RGB"))
            texture = ctx.texture((pixels.shape[1], pixels.shape[0]), 3, pixels.tobytes())
        except (OSError, ValueError):
            texture = None          # not a picture: the preset shows as a button with its name
    tab.textures[path] = (stamp, texture)
    return texture


def _release_gone(tab: PresetsTab, entries: list[Entry]) -> None:
    """The thumbnails of presets no longer there leave the GPU."""
    shown = {entry.thumbnail for entry in entries}
    for path in [p for p in tab.textures if p not in shown]:
        texture = tab.textures.pop(path)[1]
        if texture is not None:
            texture.release()
