"""Presets: a whole look saved as readable JSON, with a thumbnail beside it.

A preset holds every parameter value (for a modulated parameter, its base value), the model, the
source, the mixing rule, the modulators and the audio mappings. The user's presets live in
``presets_dir()``; the curated ones ship in ``PRESET_DIR``; a user preset of the same name wins.
They are numbered 1, 2, … in the natural order of their names, shipped and user's together (name
them "1 …", "2 …" to choose their numbers).

A preset may leave fields out: a value it does not hold stays as it is, and a model or source of
null keeps the one running (the curated presets leave the source out, so they play on whatever the
performer shows, a webcam included). A field this version does not know is named in one line and
the rest loads; a field of the wrong type or a value out of range refuses the whole preset in one
line that names the file and the field.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import UserError
from app.params import ParamError, Registry
from app.resources import PRESET_DIR, presets_dir

FORMAT = 1
# The performance's own settings, not part of any look: a recall never pauses the loop, changes the
# tempo the band plays at, or changes how the next recall morphs.
NOT_SAVED = ("paused", "tempo.bpm", "morph.time", "morph.unit")
# Written first: a viewing mode writes other values (the dream, the occluder, …), which the look's
# own values then overwrite.
FIRST = ("mode", "rule")
# Fields that hold a controller's own list: ``to_json()`` saves it, ``load_json(list)`` restores it.
PARTS = ("modulators", "audio")
FIELDS = ("format", "description", "model", "source", "rule", "values", *PARTS)
MAX_NAME = 64

PARAMS: list = []


class PresetError(UserError):
    """A preset that cannot be read, saved, found or applied; one line naming the file and the field."""


@dataclass
class Preset:
    name: str
    values: dict[str, Any] = field(default_factory=dict)   # address → value, the rule apart
    model: str | None = None                                # None: keep the model running
    source: str | None = None                               # None: keep the source running
    rule: str | None = None
    description: str = ""
    parts: dict[str, list] = field(default_factory=dict)   # "modulators", "audio" → their lists
    path: Path | None = None
    shipped: bool = False
    unknown: tuple[str, ...] = ()                           # fields of the file this version does not know

    @property
    def thumbnail_path(self) -> Path | None:
        return self.path.with_suffix(".png") if self.path is not None else None

    def to_json(self) -> dict:
        return {"format": FORMAT, "description": self.description, "model": self.model, "source": self.source,
                "rule": self.rule, "values": dict(self.values), **{k: self.parts[k] for k in PARTS if k in self.parts}}

    @classmethod
    def from_json(cls, data: Any, name: str, path: Path | None = None, shipped: bool = False) -> Preset:
        where = f"preset {path or name}"
        if not isinstance(data, dict):
            raise PresetError(f"{where}: not a preset (the file must hold a JSON object with \"format\": {FORMAT})")
        if "format" not in data:
            raise PresetError(f"{where}: field 'format' is missing (a preset holds \"format\": {FORMAT})")
        if type(data["format"]) is not int or data["format"] != FORMAT:
            raise PresetError(f"{where}: field 'format': {data['format']!r} is not a format this version reads "
                              f"(it reads {FORMAT}; a newer Hypnagogia may have written the file)")

        def text(key: str, default=None) -> str | None:
            value = data.get(key, default)
            if value is not None and not isinstance(value, str):
                raise PresetError(f"{where}: field {key!r} must be text{' or null' if default is None else ''}, "
                                  f"got {value!r}")
            return value

        values = data.get("values", {})
        if not isinstance(values, dict):
            raise PresetError(f"{where}: field 'values' must be an object of parameter: value, got {values!r}")
        for address, value in values.items():
            if not isinstance(value, (bool, int, float, str)):
                raise PresetError(f"{where}: field 'values.{address}' must be a number, true/false or text, "
                                  f"got {value!r}")
        parts = {key: data[key] for key in PARTS if key in data}
        for key, part in parts.items():
            if not isinstance(part, list):
                raise PresetError(f"{where}: field {key!r} must be a list, got {part!r}")
        return cls(name, dict(values), text("model"), text("source"), text("rule"), text("description", "") or "",
                   parts, path, shipped, tuple(k for k in data if k not in FIELDS))

    @classmethod
    def read(cls, path: Path, shipped: bool = False) -> Preset:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PresetError(f"preset {path}: no such file") from None
        except OSError as e:
            raise PresetError(f"preset {path}: cannot be read ({e.strerror or e})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise PresetError(f"preset {path}: not JSON ({e})") from None
        return cls.from_json(data, path.stem, path, shipped)

    def checked(self, registry: Registry) -> tuple[dict[str, Any], list[str]]:
        """The values to write, validated and in the order to write them (the rule included), and the
        fields this registry does not know. Raises PresetError for a bad value."""
        wanted = dict(self.values)
        if self.rule is not None:
            wanted["rule"] = self.rule
        good: dict[str, Any] = {}
        unknown = list(self.unknown)
        for address, value in ordered(wanted).items():
            if address in NOT_SAVED:
                continue
            if name_of(registry, address) is None:
                unknown.append(address if address == "rule" else f"values.{address}")
                continue
            try:
                good[address] = registry.check(f"{address}={value}")[1]
            except ParamError as e:
                key = "rule" if address == "rule" and self.rule is not None else f"values.{address}"
                raise PresetError(f"preset {self.path or self.name}: field {key!r}: {e}") from None
        return good, unknown

    def unknown_line(self, unknown: list[str]) -> str:
        """The one line naming what was not loaded ("" when everything was)."""
        if not unknown:
            return ""
        return f"preset {self.name}: loaded all but {', '.join(unknown)} (unknown to this version)"

    def assignments(self, registry: Registry) -> tuple[list[str], str]:
        """The values as ``name=value`` texts (as ``--set`` takes them) and the unknown-fields line."""
        values, unknown = self.checked(registry)
        return [f"{a}={v}" for a, v in values.items()], self.unknown_line(unknown)


def name_of(registry: Registry, address: str) -> str | None:
    """The parameter an address belongs to (``lesion.down.3`` → ``lesion.down``), or None."""
    if address in registry:
        return address
    head, _, tail = address.rpartition(".")
    return head if head in registry and tail.isdigit() else None


def ordered(values: dict[str, Any]) -> dict[str, Any]:
    return {**{k: values[k] for k in FIRST if k in values}, **{k: v for k, v in values.items() if k not in FIRST}}


def capture(registry: Registry, name: str, *, model: str | None, source: str | None, parts: dict[str, Any],
            description: str = "") -> Preset:
    """The look now: every value (a modulated one at its base: a part's ``bases()``), the model, the
    source (None to leave it out), the rule, and each part's ``to_json()``."""
    values = registry.snapshot()
    for part in parts.values():
        bases = getattr(part, "bases", None)
        if bases is not None:
            values.update((a, v) for a, v in bases().items() if a in values)
    rule = values.pop("rule", None)
    values = {a: v for a, v in values.items() if a not in NOT_SAVED}
    lists = {key: part.to_json() for key, part in parts.items() if hasattr(part, "to_json")}
    return Preset(name, values, model, source, rule, description, lists)


def restore_parts(preset: Preset, parts: dict[str, Any]) -> list[str]:
    """Each part's list back (``load_json``, which loads the entries it can and returns a line for
    each it cannot); a part the preset leaves out keeps its own. Returns one line per part that
    could not load everything, naming the file and the field."""
    lines = []
    for key, part in parts.items():
        load = getattr(part, "load_json", None)
        if load is None or key not in preset.parts:
            continue
        problems = load(preset.parts[key]) or []
        if problems:
            lines.append(f"preset {preset.path or preset.name}: field {key!r}: {'; '.join(problems)}")
    return lines


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise PresetError(f"a preset name needs 1 to {MAX_NAME} characters, got {name!r}")
    if name.isdigit():
        raise PresetError(f"preset name {name!r}: a name of digits alone would read as a preset number; add a word")
    if name.startswith(".") or any(c in name for c in '/\\:*?"<>|') or not name.isprintable():
        raise PresetError(f"preset name {name!r}: use letters, digits, spaces, - and _ (no / \\ : * ? \" < > | "
                          f"and no leading dot)")
    return name


def _loose(name: str) -> str:
    """Names compared loosely: case, spaces, - and _ aside (OSC addresses cannot hold spaces)."""
    return re.sub(r"[\s_-]+", "-", name.strip().casefold())


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.casefold())]


@dataclass(frozen=True)
class Entry:
    """A preset file in the bank, not yet read."""
    name: str
    path: Path
    shipped: bool

    @property
    def thumbnail(self) -> Path:
        return self.path.with_suffix(".png")


class PresetBank:
    """The user's presets and the shipped ones, found by name, number or path; saved, renamed and
    deleted in the user's folder only, each file written whole (a temporary file renamed)."""

    def __init__(self, user_dir: Path | None = None, shipped_dir: Path | None = None):
        self._user_dir = Path(user_dir) if user_dir is not None else None
        self.shipped_dir = Path(shipped_dir) if shipped_dir is not None else PRESET_DIR
        self._read: dict[Path, tuple[tuple, Preset | PresetError]] = {}

    @property
    def user_dir(self) -> Path:
        return self._user_dir if self._user_dir is not None else presets_dir()   # HYPNAGOGIA_HOME, read now

    def entries(self) -> list[Entry]:
        """Every preset, numbered from 1 in this order; a user preset hides a shipped one of its name."""
        found: dict[str, Entry] = {}
        for folder, shipped in ((self.shipped_dir, True), (self.user_dir, False)):
            try:
                paths = sorted(folder.glob("*.json"))
            except OSError:
                continue
            for path in paths:
                if not path.name.startswith("."):
                    found[path.stem] = Entry(path.stem, path, shipped)
        return sorted(found.values(), key=lambda e: _natural(e.name))

    def find(self, which: str) -> Entry:
        """By 1-based number, name (loosely: case, spaces, - and _ aside) or path to a .json file."""
        which = str(which).strip()
        entries = self.entries()
        if which.isdigit():
            number = int(which)
            if 1 <= number <= len(entries):
                return entries[number - 1]
            raise PresetError(f"no preset number {number}; {self._listing(entries)}")
        for match in (lambda e: e.name == which, lambda e: _loose(e.name) == _loose(which)):
            hits = [e for e in entries if match(e)]
            if hits:
                return hits[0]
        path = Path(which).expanduser()
        if path.suffix == ".json" or os.sep in which or "/" in which:
            if path.is_file():
                return Entry(path.stem, path, False)
            raise PresetError(f"preset {path}: no such file")
        raise PresetError(f"no preset {which!r}; {self._listing(entries)}")

    def load(self, which: str | Entry) -> Preset:
        """The preset, read (again only when its file changed); raises PresetError for a bad one."""
        entry = which if isinstance(which, Entry) else self.find(which)
        try:
            stat = entry.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = ()
        cached = self._read.get(entry.path)
        if cached is None or cached[0] != stamp or not stamp:
            try:
                result: Preset | PresetError = Preset.read(entry.path, entry.shipped)
            except PresetError as e:
                result = e
            cached = (stamp, result)
            self._read[entry.path] = cached
        if isinstance(cached[1], PresetError):
            raise cached[1]
        return cached[1]

    def number_of(self, name: str) -> int | None:
        for i, entry in enumerate(self.entries(), 1):
            if entry.name == name:
                return i
        return None

    def save(self, preset: Preset, *, overwrite: bool = False, thumbnail=None) -> Path:
        """Write ``preset`` (and its thumbnail, RGB uint8) to the user's folder under its name. A new
        name must be free (neither the user's nor a shipped preset's); ``overwrite`` replaces the
        user's preset of that name, or puts the user's own beside a shipped one, which it then hides."""
        name = check_name(preset.name)
        if not overwrite:
            self.refuse_taken(name)
        folder = self.user_dir
        path = folder / f"{name}.json"
        text = json.dumps(preset.to_json(), indent=2, ensure_ascii=False) + "\n"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.json.{os.getpid()}.tmp"
            tmp.write_text(text, encoding="utf-8")
            try:
                if overwrite:
                    os.replace(tmp, path)
                else:
                    _link_new(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            if thumbnail is not None:
                write_thumbnail(path.with_suffix(".png"), thumbnail)
        except FileExistsError:
            raise PresetError(f"a preset named {name!r} appeared meanwhile; overwrite it or pick another "
                              f"name") from None
        except OSError as e:
            raise PresetError(f"cannot save preset {path}: {e.strerror or e}") from None
        preset.path, preset.shipped, preset.name = path, False, name
        return path

    def rename(self, old: str, new: str) -> Path:
        entry = self.find(old)
        if entry.shipped:
            raise PresetError(f"{entry.name} ships with the app and cannot be renamed; save it under the new name "
                              f"instead")
        new = check_name(new)
        if new == entry.name:
            return entry.path
        self.refuse_taken(new, but=entry)
        target = entry.path.with_name(f"{new}.json")
        try:
            _link_new(entry.path, target)
            entry.path.unlink(missing_ok=True)
            if entry.thumbnail.exists():
                os.replace(entry.thumbnail, target.with_suffix(".png"))
        except FileExistsError:
            raise PresetError(f"a preset named {new!r} appeared meanwhile; pick another name") from None
        except OSError as e:
            raise PresetError(f"cannot rename preset {entry.path}: {e.strerror or e}") from None
        return target

    def delete(self, name: str) -> str:
        """Delete the user's preset ``name``; returns the line saying what happened."""
        entry = self.find(name)
        if entry.shipped:
            raise PresetError(f"{entry.name} ships with the app and is never deleted; presets you saved can be")
        try:
            entry.path.unlink()
            entry.thumbnail.unlink(missing_ok=True)
        except OSError as e:
            raise PresetError(f"cannot delete preset {entry.path}: {e.strerror or e}") from None
        back = (self.shipped_dir / entry.path.name).exists()
        return f"deleted preset {entry.name}" + ("; the shipped one of that name is back" if back else "")

    def refuse_taken(self, name: str, but: Entry | None = None) -> None:
        """Raise PresetError where ``name`` (loosely) is a preset's already, ``but`` aside."""
        for entry in self.entries():
            if entry != but and _loose(entry.name) == _loose(name):
                where = "a shipped preset" if entry.shipped else "a preset"
                raise PresetError(f"{where} named {entry.name!r} exists; overwrite it or pick another name")

    @staticmethod
    def _listing(entries: list[Entry]) -> str:
        if not entries:
            return "there are no presets yet (save one from the panel's Presets tab)"
        return "presets: " + ", ".join(f"{i} {e.name}" for i, e in enumerate(entries, 1))


def _link_new(source: Path, target: Path) -> None:
    """``source`` also at ``target``, failing with FileExistsError if ``target`` exists (no race)."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:                       # a file system without hard links: moved instead
        if target.exists():
            raise FileExistsError(target) from None
        os.replace(source, target)


def write_thumbnail(path: Path, pixels) -> None:
    """An RGB uint8 image (H, W, 3) as a PNG, written whole."""
    import numpy as np
    from PIL import Image

    array = np.ascontiguousarray(pixels, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:
        raise PresetError(f"a thumbnail must be an RGB image, got an array of shape {array.shape}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(array, "RGB").save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
