"""The one registry of live parameters.

Every controller (panel, CLI ``--set``, presets, MIDI, OSC) reads and writes parameters here, by
address; the engine reads them once per step. A parameter is declared once with its type, range,
default, help and group. Per-layer parameters hold one value per feature layer and are addressed
as ``name.K`` (K = 1 … MAX_LAYERS); the bare ``name`` sets every layer at once.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

MAX_LAYERS = 8

KINDS = ("float", "int", "bool", "choice")
_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no"}


class ParamError(ValueError):
    """An invalid parameter address or value; the message says what is allowed."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    default: Any
    help: str
    group: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    per_layer: bool = False
    label: str = ""
    visible_if: str = ""        # a bool parameter the panel shows this one under ("!name": when it is off)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if not self.group:
            object.__setattr__(self, "group", self.name.split(".")[0] if "." in self.name else "main")
        if not self.label:
            object.__setattr__(self, "label", self.name.rsplit(".", 1)[-1].replace("_", " "))

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ParamError."""
        what = f"{self.name} expects {self.describe()}, got {value!r}"
        if self.kind == "bool":
            if isinstance(value, str):
                low = value.strip().lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ParamError(what)
            if isinstance(value, (bool, int, float)) and value in (0, 1):
                return bool(value)
            raise ParamError(what)
        if self.kind == "choice":
            text = str(value).strip()
            if text in self.choices:
                return text
            if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer() \
                    and 0 <= int(value) < len(self.choices):
                return self.choices[int(value)]
            raise ParamError(what)
        try:
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ParamError(what) from None
        if not math.isfinite(number):
            raise ParamError(what)
        if self.kind == "int":
            if not number.is_integer():
                raise ParamError(what)
            number = int(number)
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            raise ParamError(what)
        return number

    def describe(self) -> str:
        if self.kind == "bool":
            return "on/off (1/0, true/false)"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        noun = "an integer" if self.kind == "int" else "a number"
        if self.min is not None and self.max is not None:
            return f"{noun} from {self.min:g} to {self.max:g}"
        return noun

    def normalized(self, value: Any) -> float:
        """Position of ``value`` in the range, 0…1 (for MIDI/OSC style controllers)."""
        if self.kind == "bool":
            return float(value)
        if self.kind == "choice":
            return self.choices.index(value) / max(1, len(self.choices) - 1)
        return (value - self.min) / (self.max - self.min)

    def from_normalized(self, position: float) -> Any:
        position = min(1.0, max(0.0, float(position)))
        if self.kind == "bool":
            return position >= 0.5
        if self.kind == "choice":
            return self.choices[round(position * (len(self.choices) - 1))]
        value = self.min + position * (self.max - self.min)
        return round(value) if self.kind == "int" else value


@dataclass
class _Slot:
    param: Param
    values: list = field(default_factory=list)


class Registry:
    """Live parameter values, thread-safe, with a version counter that changes on every write."""

    def __init__(self, params: Iterable[Param] = ()):
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.RLock()
        self._watchers: dict[str, list[Callable[[Any], None]]] = {}
        self._listeners: list[Callable[[str, Any], None]] = []
        self.version = 0
        for p in params:
            self.declare(p)

    def declare(self, param: Param) -> None:
        """Add a parameter. Declaring the same name again keeps its current value when the type
        still admits it (shaders re-declare on hot reload)."""
        with self._lock:
            old = self._slots.get(param.name)
            count = MAX_LAYERS if param.per_layer else 1
            values = [param.default] * count
            if old is not None:
                for i, v in enumerate(old.values[:count]):
                    try:
                        values[i] = param.coerce(v)
                    except ParamError:
                        pass
            self._slots[param.name] = _Slot(param, values)
            self.version += 1

    def __contains__(self, name: str) -> bool:
        return name in self._slots

    def param(self, name: str) -> Param:
        try:
            return self._slots[name].param
        except KeyError:
            raise ParamError(self._unknown(name)) from None

    def params(self, group: str | None = None) -> list[Param]:
        return [s.param for s in self._slots.values() if group is None or s.param.group == group]

    def groups(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self._slots.values():
            seen.setdefault(s.param.group, None)
        return list(seen)

    def get(self, name: str, layer: int = 1) -> Any:
        """Value of ``name``; for a per-layer parameter, its value at feature layer ``layer`` (1-based)."""
        slot = self._slots[name]
        return slot.values[layer - 1] if slot.param.per_layer else slot.values[0]

    def layers(self, name: str) -> list:
        """All MAX_LAYERS values of a per-layer parameter."""
        return list(self._slots[name].values)

    def __getitem__(self, address: str) -> Any:
        name, layer = self._resolve(address)
        return self.get(name, layer or 1)

    def set(self, address: str, value: Any) -> Any:
        """Validate and store ``value`` at ``address`` (``name`` or ``name.K``); returns the stored value."""
        name, layer = self._resolve(address)
        with self._lock:
            slot = self._slots[name]
            coerced = slot.param.coerce(value)
            if layer is None:
                slot.values = [coerced] * len(slot.values)
            else:
                slot.values[layer - 1] = coerced
            self.version += 1
            for watcher in self._watchers.get(name, ()):
                watcher(coerced)
            for listener in self._listeners:
                listener(address, coerced)
        return coerced

    def watch(self, name: str, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback(value)`` in the writer's thread after every write of ``name`` (a parameter
        that stands for others, like a viewing mode, applies them for whichever controller wrote
        it). Returns a function that stops watching."""
        self.param(name)
        with self._lock:
            self._watchers.setdefault(name, []).append(callback)

        def stop() -> None:
            with self._lock:
                if callback in self._watchers.get(name, []):
                    self._watchers[name].remove(callback)
        return stop

    def listen(self, callback: Callable[[str, Any], None]) -> Callable[[], None]:
        """Call ``callback(address, value)`` in the writer's thread after every write of any parameter
        (OSC out, MIDI feedback). Returns a function that stops listening."""
        with self._lock:
            self._listeners.append(callback)

        def stop() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)
        return stop

    def set_choices(self, name: str, choices: tuple[str, ...]) -> None:
        with self._lock:
            slot = self._slots[name]
            current = slot.values[0]
            default = current if current in choices else (slot.param.default if slot.param.default in choices
                                                            else choices[0])
            param = Param(**{**slot.param.__dict__, "choices": tuple(choices), "default": default})
            self._slots[name] = _Slot(param, [default if v not in choices else v for v in slot.values])
            self.version += 1

    def apply(self, assignment: str) -> tuple[str, Any]:
        """Apply a ``name=value`` text assignment (CLI ``--set``, presets)."""
        address, text = self._split(assignment)
        return address, self.set(address, text)

    def check(self, assignment: str) -> tuple[str, Any]:
        """The address and value ``apply`` would store, without storing it (raises ParamError)."""
        address, text = self._split(assignment)
        name, _ = self._resolve(address)
        return address, self._slots[name].param.coerce(text)

    @staticmethod
    def _split(assignment: str) -> tuple[str, str]:
        if "=" not in assignment:
            raise ParamError(f"--set expects name=value, got {assignment!r}")
        address, text = assignment.split("=", 1)
        return address.strip(), text

    def reset(self, name: str | None = None) -> None:
        with self._lock:
            for slot in self._slots.values():
                if name is None or slot.param.name == name:
                    slot.values = [slot.param.default] * len(slot.values)
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        """Every address with its value (per-layer parameters expanded to ``name.K``)."""
        with self._lock:
            out: dict[str, Any] = {}
            for name, slot in self._slots.items():
                if slot.param.per_layer:
                    for i, v in enumerate(slot.values, 1):
                        out[f"{name}.{i}"] = v
                else:
                    out[name] = slot.values[0]
            return out

    def _resolve(self, address: str) -> tuple[str, int | None]:
        if address in self._slots:
            return address, None
        head, _, tail = address.rpartition(".")
        if head in self._slots and tail.isdigit():
            slot = self._slots[head]
            if not slot.param.per_layer:
                raise ParamError(f"{head} is not a per-layer parameter; use {head}=value")
            k = int(tail)
            if not 1 <= k <= MAX_LAYERS:
                raise ParamError(f"{address}: layer must be 1 to {MAX_LAYERS}")
            return head, k
        raise ParamError(self._unknown(address))

    def _unknown(self, address: str) -> str:
        import difflib
        close = difflib.get_close_matches(address, list(self._slots), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `hypnagogia params` lists them all"
        return f"unknown parameter {address!r}{hint}"


def core_params() -> list[Param]:
    """The parameters of the loop itself; mixing rules add their own from their shader headers."""
    return [
        Param("dream", "float", 0.0, "How much of the network's own last prediction replaces the source "
              "frame as its input (0 = follow the source, 1 = full dream).", "dream", 0.0, 1.0),
        Param("motion", "float", 0.0, "How the dream moves: calm (low) drifts slowly from one scene to the next, "
              "wild (high) changes fast and restlessly; 0 is the plain loop, which settles where the model "
              "leads it. Acts only while dreaming (in proportion to dream).", "dream", 0.0, 1.0,
              label="calm ↔ wild"),
        Param("fatigue", "float", 0.0, "How soon the network tires of what it dreams: each layer's drive is "
              "lowered by its own slow average, so a scene it holds fades and the dream moves on to another "
              "instead of settling in one. 0 = no fatigue. Acts only while dreaming (in proportion to dream).",
              "dream", 0.0, 1.0),
        Param("wander", "float", 0.0, "How much each part of the frame dreams its own scene: a slow, coarse "
              "random field nudges the regions of the top layer apart and drifts, so a large frame holds several "
              "scenes instead of one even texture. 0 = none. Acts only while dreaming (in proportion to dream).",
              "dream", 0.0, 1.0),
        Param("input_noise", "float", 0.0, "Uniform noise added to the input frame, as a fraction of full "
              "range (0.125 ≈ ±32/255, PVM's noisy signal).", "dream", 0.0, 1.0),
        Param("mode", "choice", "normal", "A viewing mode of the PVM paper: sets the dream, occluder, blink and "
              "noise parameters at once.", "dream", choices=("normal", "full dream", "deep dream", "blind spot",
              "inverse spot", "noise spot", "inverse noise spot", "dream spot", "partial dream", "gray field",
              "noise field", "blinks", "noisy signal")),
        Param("blink", "bool", False, "Blinks: 2 of every 20 steps see the network's own prediction instead of "
              "the source.", "dream"),
        Param("freeze", "bool", False, "Hold the current source frame (the source is not read): dream from a "
              "static frame, or stop a webcam on one image.", "dream"),
        Param("paused", "bool", False, "Stop stepping the dynamics (the view keeps showing the last step).", "dream"),
        Param("steps_per_frame", "int", 1, "Loop steps for each displayed or recorded frame (decode→encode "
              "passes per frame). A model that can (a PVM) takes the steps before the shown one on the device "
              "alone, at nearly its own speed, while nothing needs GL between them: no dream, blink, input noise "
              "or occluder, a rule that passes the bottom-up drive through (normal mode), no inertia, latent "
              "noise or objective, no sleep. Otherwise every step goes through the composite, the mix and the "
              "views.", "dynamics", 1, 64, label="steps per frame"),
        Param("latent_noise", "float", 0.0, "Gaussian noise on the top layer's code every step: the dream "
              "becomes Monte-Carlo resampling of the model.", "dynamics", 0.0, 1.0, label="latent noise"),
        Param("inertia", "float", 0.0, "Representational inertia γ: the top layer follows its own momentum "
              "instead of its input (at 1 the stack ignores the input and dreams on).", "dynamics", 0.0, 1.0),
        Param("inertia_momentum", "float", 1.0, "How much of the top layer's last change the inertia carries "
              "on (1: z + (z − z_prev), the seed's extrapolation; lower values damp it).", "dynamics",
              0.0, 1.0, label="momentum"),
        Param("rule", "choice", "general", "The GLSL rule that mixes each layer's state with its bottom-up "
              "and top-down drives (shaders/rules/*.glsl).", "layers", choices=("general",)),
        Param("lesion.up", "bool", False, "Cut the bottom-up drive into this layer (the encoding of the "
              "layer below becomes zero; weights are kept).", "layers", per_layer=True, label="cut bottom-up"),
        Param("lesion.down", "bool", False, "Cut the top-down drive into this layer (the decoding of the "
              "layer above becomes zero; weights are kept).", "layers", per_layer=True, label="cut top-down"),
        Param("occluder.mode", "choice", "off", "Blind spot: the shape is filled; inverse spot: everything "
              "but the shape is filled.", "occluder", choices=("off", "blind", "inverse"), label="mode"),
        Param("occluder.shape", "choice", "disc", "Shape of the occluder.", "occluder",
              choices=("disc", "square"), label="shape"),
        Param("occluder.fill", "choice", "gray", "What fills the occluded region: mid-gray, fresh noise, or "
              "the network's own prediction (a dream spot).", "occluder",
              choices=("gray", "noise", "prediction"), label="fill"),
        Param("occluder.x", "float", 0.5, "Centre of the occluder, 0 = left edge, 1 = right edge "
              "(drag it in the view).", "occluder", 0.0, 1.0, label="x"),
        Param("occluder.y", "float", 0.5, "Centre of the occluder, 0 = top edge, 1 = bottom edge "
              "(drag it in the view).", "occluder", 0.0, 1.0, label="y"),
        Param("occluder.size", "float", 0.35, "Diameter (disc) or side (square) as a fraction of the frame.",
              "occluder", 0.0, 1.5, label="size"),
        Param("feedback.zoom", "float", 1.0, "Zoom applied to the prediction before it is fed back "
              "(>1 zooms in every step: an infinite zoom).", "feedback", 0.8, 1.25, label="zoom"),
        Param("feedback.rotate", "float", 0.0, "Rotation in degrees applied to the fed-back prediction each "
              "step.", "feedback", -10.0, 10.0, label="rotate"),
        Param("feedback.shift_x", "float", 0.0, "Horizontal shift of the fed-back prediction per step, as a "
              "fraction of the frame.", "feedback", -0.05, 0.05, label="shift x"),
        Param("feedback.shift_y", "float", 0.0, "Vertical shift of the fed-back prediction per step, as a "
              "fraction of the frame.", "feedback", -0.05, 0.05, label="shift y"),
        Param("explore.mouse", "choice", "occluder", "What dragging in the view does: move the occluder, "
              "add noise to the dream, paint the source frame into it, or (a click) probe the unit of the probed "
              "layer there.", "explore", choices=("occluder", "noise", "source", "probe"), label="mouse"),
        Param("explore.strength", "float", 0.5, "Strength of a perturbation (noise std, or how much of the "
              "source is blended in).", "explore", 0.0, 2.0, label="strength"),
        Param("explore.radius", "float", 0.08, "Radius of the disc a drag perturbs, as a fraction of the "
              "frame.", "explore", 0.01, 0.5, label="radius"),
        Param("explore.hold", "int", 100, "Steps a static frame is shown before dreaming from it.", "explore",
              1, 2000, label="hold steps"),
        Param("explore.tolerance", "float", 0.02, "Change under which states count as equal (fixed points and "
              "cycles), relative to the dream's own scale: a fraction of the spread (contrast) of the prediction "
              "and of the top layer, whatever the size or model.", "explore", 1e-3, 0.3, label="tolerance"),
        Param("explore.patience", "int", 20, "Steps the change must stay under the tolerance.", "explore",
              3, 500, label="patience"),
        Param("probe.layer", "int", 1, "The probed unit's layer, numbered as the grid view numbers them (click "
              "a unit in the grid view to pick it).", "probe", 1, 16, label="layer"),
        Param("probe.unit", "int", 0, "The probed unit: its channel (for a PVM, the hidden neuron of the unit "
              "at the position).", "probe", 0, 4095, label="unit"),
        Param("probe.x", "float", 0.5, "The probed unit's position across its layer, 0 = left edge, 1 = right "
              "edge.", "probe", 0.0, 1.0, label="x"),
        Param("probe.y", "float", 0.5, "The probed unit's position down its layer, 0 = top edge, 1 = bottom "
              "edge.", "probe", 0.0, 1.0, label="y"),
        Param("probe.sound", "bool", False, "A click for every spike of the probed unit (needs sounddevice and "
              "PortAudio).", "probe", label="sound"),
        Param("probe.rate", "float", 40.0, "Spikes per second at the top of the unit's recent range of "
              "responses (none at its bottom).", "probe", 1.0, 200.0, label="max spikes/s"),
        Param("probe.brush", "int", 2, "Radius of the probe canvas's brush, in pixels of the receptive field.",
              "probe", 1, 16, label="brush"),
        Param("probe.ink", "choice", "white", "What the brush paints on the probe canvas.", "probe",
              choices=("white", "black", "gray"), label="ink"),
        Param("objective.strength", "float", 0.0, "Dream toward the probed unit: each step the input moves "
              "up the gradient of its response by about this much per pixel (DeepDream); 0 is off and costs "
              "nothing.", "objective", 0.0, 0.2, label="strength"),
        Param("objective.target", "choice", "unit", "What the dream moves toward: the probed unit, its channel "
              "over the whole layer, or the whole layer's activity (DeepDream's objective).", "objective",
              choices=("unit", "channel", "layer"), label="toward"),
        Param("objective.jitter", "int", 4, "Random shift in pixels of the image while its gradient is taken "
              "(DeepDream's jitter).", "objective", 0, 32, label="jitter"),
        Param("objective.octaves", "int", 1, "Scales the gradient is taken at, each smaller by the octave "
              "scale, added up (a model that reads one size takes one).", "objective", 1, 4, label="octaves"),
        Param("objective.octave_scale", "float", 1.4, "Size ratio between octaves.", "objective", 1.1, 2.0,
              label="octave scale"),
        Param("view", "choice", "main", "What the output shows: the prediction, input | prediction | error "
              "side by side, or a grid of every layer's state and drives.", "view",
              choices=("main", "compare", "grid")),
        Param("error_gain", "float", 4.0, "Amplification of the prediction error in the views.", "view", 1.0, 16.0),
    ]


def make_registry() -> Registry:
    return Registry(core_params())
