"""The PVM spec: a JSON file with the keys of Brain Corp's PVM model_zoo files.

Values may be written as JSON types (``16``, ``true``, ``0.5``) or as the original files write
them (``"16"``, ``"1"``, ``"0.5"``). Keys of the original that this implementation has no use for
(readouts, datasets, tracker options) are not accepted: a spec describes exactly what runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from app.resources import MODEL_DIR
from app.errors import UserError
from app.params import MAX_LAYERS

SPEC_DIR = MODEL_DIR / "specs"
# sane ranges: a spec (or a model card, which holds one) beyond them would build a model of many
# gigabytes or one the loop cannot show (the mixer holds MAX_LAYERS feature layers, one per layer
# but the top)
MAX_GRID = 64
MAX_BLOCK = 16
MAX_RADIUS = 8.0


@dataclass
class PVMSpec:
    layer_shapes: list[int] = field(default_factory=lambda: [16, 8, 4, 3, 2, 1])
    input_block_size: int = 5              # layer-0 units see input_block_size² RGB pixels
    hidden_block_size: int = 7             # every unit's output is hidden_block_size² values
    lateral_radius: float = 2.0
    fan_in_square_size: int = 2
    fan_in_radius: float = 2.0
    context_exclude_self: bool = False
    last_layer_context_to_all: bool = True
    send_context_two_layers_back: bool = False
    use_derivative: bool = True
    use_integral: bool = True
    use_error: bool = True
    use_t_minus_2_block: bool = False
    predict_two_steps: bool = False
    polynomial: bool = True
    tau: float = 0.98                      # integral feature: i <- tau·i + (1 - tau)·x
    momentum: float = 0.5
    initial_learning_rate: float = 0.0002
    final_learning_rate: float = 0.00001
    delay_each_layer_learning: int = 100000
    delay_final_learning_rate: int = 100000
    enable_lateral_at: int = 700000
    enable_feedback_at: int = 900000

    def __post_init__(self):
        for f in fields(self):
            setattr(self, f.name, _coerce(f.name, f.type, getattr(self, f.name)))
        self._check()

    @property
    def n_layers(self) -> int:
        return len(self.layer_shapes)

    @property
    def frame_size(self) -> int:
        """Side of the square RGB frame the bottom layer tiles."""
        return self.input_block_size * self.layer_shapes[0]

    @property
    def hidden_size(self) -> int:
        return self.hidden_block_size ** 2

    @property
    def n_features(self) -> int:
        """Input features per signal value: the value, then derivative, integral, error, t−2 value."""
        return 1 + sum((self.use_derivative, self.use_integral, self.use_error, self.use_t_minus_2_block))

    def learning_rate(self, layer: int, step: int) -> float:
        """The developmental schedule: layer i learns from step i·delay_each_layer_learning at the
        initial rate, and delay_final_learning_rate steps later at the final rate."""
        start = layer * self.delay_each_layer_learning
        if step < start:
            return 0.0
        if step < start + self.delay_final_learning_rate:
            return self.initial_learning_rate
        return self.final_learning_rate

    def to_dict(self) -> dict:
        return asdict(self)

    def _check(self) -> None:
        def bad(key: str, allowed: str):
            raise UserError(f"PVM spec: {key} must be {allowed}, got {getattr(self, key)!r}")

        if not 1 <= len(self.layer_shapes) <= MAX_LAYERS + 1 or not 1 <= min(self.layer_shapes) <= \
                max(self.layer_shapes) <= MAX_GRID:
            bad("layer_shapes", f"a non-empty list of at most {MAX_LAYERS + 1} grid sizes from 1 to {MAX_GRID}, "
                                f"e.g. [16, 8, 4, 3, 2, 1]")
        for key in ("input_block_size", "hidden_block_size", "fan_in_square_size"):
            if not 1 <= getattr(self, key) <= MAX_BLOCK:
                bad(key, f"a whole number from 1 to {MAX_BLOCK}")
        if self.fan_in_square_size > min(self.layer_shapes[:-1], default=self.fan_in_square_size):
            bad("fan_in_square_size", f"at most the smallest lower layer ({min(self.layer_shapes[:-1])})")
        if not fan_in_offsets(self.fan_in_square_size, self.fan_in_radius):
            bad("fan_in_radius", f"large enough to select part of the {self.fan_in_square_size}² fan-in square")
        if self.send_context_two_layers_back and 2 * self.fan_in_square_size > min(self.layer_shapes[:-2], default=99):
            bad("send_context_two_layers_back", f"false when a layer below the top two is smaller than "
                                                f"2·fan_in_square_size = {2 * self.fan_in_square_size}")
        for key in ("lateral_radius", "fan_in_radius"):
            if not 0 <= getattr(self, key) <= MAX_RADIUS:
                bad(key, f"a distance from 0 to {MAX_RADIUS:g}")
        if not 0 <= self.tau <= 1:
            bad("tau", "a number in [0, 1]")
        if not 0 <= self.momentum <= 0.9:
            bad("momentum", "a number in [0, 0.9]")
        for key in ("initial_learning_rate", "final_learning_rate"):
            if not getattr(self, key) > 0:
                bad(key, "a positive number (turn learning off to stop it)")
        for key in ("delay_each_layer_learning", "delay_final_learning_rate", "enable_lateral_at",
                    "enable_feedback_at"):
            if getattr(self, key) < 0:
                bad(key, "a step count ≥ 0")


KEYS = tuple(f.name for f in fields(PVMSpec))


def fan_in_offsets(square: int, radius: float) -> list[tuple[int, int]]:
    """Offsets in a square×square block within `radius` of its centre, in the original's order."""
    centre = (square - 1) * 0.5
    return [(xx, yy) for xx in range(square) for yy in range(square)
            if (xx - centre) ** 2 + (yy - centre) ** 2 <= radius ** 2]


def _coerce(key: str, kind: str, value):
    """A value as the field's type, accepting the original's string encodings."""
    def fail(what: str):
        raise UserError(f"PVM spec: {key} must be {what}, got {value!r}")

    if kind == "list[int]":
        if not isinstance(value, (list, tuple)):
            fail("a list of whole numbers")
        return [_coerce(key, "int", v) for v in value]
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if value in (0, 1, "0", "1"):
            return value in (1, "1")
        fail('true or false (or "1" / "0")')
    if isinstance(value, bool):
        fail("a number")
    if kind == "int":
        try:
            number = float(value)
        except (TypeError, ValueError):
            fail("a whole number")
        if not number.is_integer():
            fail("a whole number")
        return int(number)
    try:
        number = float(value)
    except (TypeError, ValueError):
        fail("a number")
    if not math.isfinite(number):
        fail("a finite number")
    return number


def spec_from_dict(data: dict, origin: str = "PVM spec") -> PVMSpec:
    if not isinstance(data, dict):
        raise UserError(f"{origin} must hold a JSON object of spec keys")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise UserError(f"{origin}: unknown key {unknown[0]!r} (allowed: {', '.join(KEYS)})")
    try:
        return PVMSpec(**data)
    except UserError as e:
        raise UserError(str(e).replace("PVM spec", origin, 1)) from None


def load_spec(name_or_path: str | Path) -> PVMSpec:
    """A spec by name (``pvm-paper`` → ``models/specs/pvm-paper.json``) or by path."""
    path = Path(name_or_path).expanduser()
    if not path.suffix and not path.exists():
        path = SPEC_DIR / f"{name_or_path}.json"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in SPEC_DIR.glob("*.json"))) or "none"
        raise UserError(f"no PVM spec {str(name_or_path)!r}; pass a spec name ({names}) or a path to a .json file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"PVM spec {path} is not valid JSON ({e}); fix the file") from None
    return spec_from_dict(data, origin=f"PVM spec {path.name}")
