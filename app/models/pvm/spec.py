"""The PVM spec: a JSON file with the keys of Brain Corp's PVM model_zoo files.

Values may be written as JSON types (``16``, ``true``, ``0.5``) or as the original files write
them (``"16"``, ``"1"``, ``"0.5"``). Keys of the original that this implementation has no use for
(readouts, datasets, tracker options) are not accepted: a spec describes exactly what runs.

Besides the original's keys, a spec has options that reproduce where the original's code, or its
2017–2023 CUDA rewrite (``PVM_cuda``), runs otherwise than the paper describes. Every one defaults to
what this implementation did before it had the option:

* ``original_upper_lateral`` (false) — layers above the first hear, as lateral context, the first
  layer's units numbered as their own neighbours are (braincorp/PVM's ``gather_surround``), not their
  neighbours (``app.models.pvm.wiring``);
* ``pvm_cuda_wiring`` (false) — context two layers up and from the top layer as PVM_cuda wires it
  (``app.models.pvm.wiring``);
* ``weight_init_range`` (0) — every weight and bias uniform in ±this (PVM_cuda: 0.015); 0 keeps the
  original's ±1/√fan-in of the input layer and ±1/√hidden of the output layer;
* ``compress_hidden_copies`` (false) — units read other units' outputs, as signal and as context, as
  0.8·h + 0.1 (PVM_cuda's ``gpu_copy_blocks_comp``);
* ``compress_frame`` (false) — the frame enters as 0.8·f + 0.1 and its predictions are mapped back
  with (p − 0.1)/0.8, clipped to [0, 1] (PVM_cuda's manager: ``compress_tensor``, ``uncompress_tensor``);
* ``intermediate_learning_rate`` (0: none) and ``delay_intermediate_learning_rate`` (0) — PVM_cuda's
  third rate: every layer learns at it from that delay on, counted as the final rate's delay is;
  of the final and the intermediate switch, the later one wins, and at the same step the
  intermediate (PVM_cuda sets it after the final);
* ``rates_switch_together`` (false) — the final and intermediate delays count from step 0 for every
  layer at once (PVM_cuda's ``update_learning_rate``), not from each layer's start (braincorp/PVM's
  ``developmental_check``).
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
    # where the original code runs otherwise than the paper (see the module doc); defaults: as before
    original_upper_lateral: bool = False
    pvm_cuda_wiring: bool = False
    weight_init_range: float = 0.0
    compress_hidden_copies: bool = False
    compress_frame: bool = False
    intermediate_learning_rate: float = 0.0
    delay_intermediate_learning_rate: int = 0
    rates_switch_together: bool = False

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
        initial rate, and delay_final_learning_rate steps later (after step 0 with
        ``rates_switch_together``) at the final rate; with an intermediate rate, the later of the two
        switches wins, the intermediate at the same step."""
        start = layer * self.delay_each_layer_learning
        if step < start:
            return 0.0
        origin = 0 if self.rates_switch_together else start
        switches = [(origin + self.delay_final_learning_rate, self.final_learning_rate)]
        if self.intermediate_learning_rate > 0:
            switches.append((origin + self.delay_intermediate_learning_rate, self.intermediate_learning_rate))
        rate = self.initial_learning_rate
        for at, later in sorted(switches, key=lambda switch: switch[0]):     # stable: a tie keeps the order
            if step >= at:
                rate = later
        return rate

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
        if self.send_context_two_layers_back and not self.pvm_cuda_wiring and \
                2 * self.fan_in_square_size > min(self.layer_shapes[:-2], default=99):
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
        if self.intermediate_learning_rate < 0:
            bad("intermediate_learning_rate", "a positive number, or 0 for none")
        for key in ("delay_each_layer_learning", "delay_final_learning_rate", "enable_lateral_at",
                    "enable_feedback_at", "delay_intermediate_learning_rate"):
            if getattr(self, key) < 0:
                bad(key, "a step count ≥ 0")
        if not 0 <= self.weight_init_range <= 1:
            bad("weight_init_range", "a number in [0, 1] (0: ±1/√fan-in)")
        if self.original_upper_lateral and self.pvm_cuda_wiring:
            bad("original_upper_lateral", "false with pvm_cuda_wiring, which hears the layer's own neighbours")


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
