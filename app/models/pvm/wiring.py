"""Which unit reads which: the PVM's connectivity, built exactly as Brain Corp's ``PVM_Create.py``.

Units are numbered layer by layer, row-major within a layer (unit ``(x, y)`` of a b×b layer is
``x·b + y``), as in the original. Each unit has

* signal sources: the frame block it tiles (layer 0) or the units below it whose outputs it reads
  (its fan-in square of the layer below, picked by the original's ``get_fan_in``, which overlaps
  neighbouring squares when the grid sizes do not divide, e.g. 4 → 3 → 2);
* context sources, in the original's order: lateral (the units of its own layer within
  ``lateral_radius``, itself too unless ``context_exclude_self``), feedback (every unit above that
  reads it), feedback from two layers up (``send_context_two_layers_back``) and, with
  ``last_layer_context_to_all``, every unit of the top layer. The original adds the top-layer
  context to every unit below the top layer, so the layer just below the top hears the top unit
  twice, once as feedback and once as global context; so does this wiring, which is how the paper
  spec comes to 20,372,477 weights.

The original gathers the lateral context of layers above the first from the first layer's units
(``gather_surround`` indexes ``xy[0]·b + xy[1]`` without the layer offset): unit (x, y) of a b×b layer
hears the bottom units numbered x'·b + y' for its neighbours (x', y'). This wiring takes it from the
unit's own layer, as the paper describes, unless the spec's ``original_upper_lateral`` asks for the
original's sources. Unit and weight counts are the same either way.

``pvm_cuda_wiring`` wires context as the 2017–2023 CUDA rewrite (``PVM_cuda``'s
``sequence_learner.generate_graph``) does: the lateral radius truncated to a whole number; context
two layers up from every unit above a unit above (once per path, so a unit reached along two paths
is heard twice); and the top layer's context to every unit that does not hear it yet, the top layer
included, instead of to every unit below the top.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.models.pvm.spec import PVMSpec, fan_in_offsets

LATERAL, FEEDBACK, GLOBAL = 1, 2, 3     # context kinds; 0 marks an unused (padding) slot


@dataclass(frozen=True)
class Wiring:
    layer_starts: tuple[int, ...]                       # first unit of each layer, then the unit count
    signals: tuple[tuple[int, ...], ...]                # per unit: units it reads (empty in layer 0)
    contexts: tuple[tuple[tuple[int, int], ...], ...]   # per unit: (source unit, kind)

    @property
    def n_units(self) -> int:
        return self.layer_starts[-1]

    def layer_of(self, unit: int) -> int:
        return next(i for i in range(len(self.layer_starts) - 1) if unit < self.layer_starts[i + 1])


@dataclass(frozen=True)
class Counts:
    units: int
    weights: int            # every weight and bias of every unit's two layers
    max_inputs: int         # the widest unit's inputs, bias not counted
    per_layer: tuple[tuple[int, int, int], ...]   # (units, weights, max inputs) per layer


def surround(x: int, y: int, size: int, radius: float, exclude_self: bool) -> list[tuple[int, int]]:
    """The original's ``get_surround``: grid cells within `radius` (Euclidean) of (x, y)."""
    cells = []
    for dx in range(-int(radius), int(radius) + 1):
        for dy in range(-int(radius), int(radius) + 1):
            if dx * dx + dy * dy > radius * radius:
                continue
            if 0 <= x + dx < size and 0 <= y + dy < size and not (exclude_self and dx == 0 and dy == 0):
                cells.append((x + dx, y + dy))
    return cells


def fan_in(x: int, y: int, lower: int, upper: int, square: int, radius: float) -> list[tuple[int, int]]:
    """The original's ``get_fan_in``: the cells of the `lower` grid under cell (x, y) of the `upper`
    grid, spread evenly (and truncated with ``int``) when the sizes do not divide."""
    offsets = fan_in_offsets(square, radius)
    if upper == 1:
        return [(int((lower - square) / 2.0 + xx), int((lower - square) / 2.0 + yy)) for xx, yy in offsets]
    factor = ((lower - 1) - (square - 1)) / (1.0 * (upper - 1))
    return [(int((factor * x) + xx), int((factor * y) + yy)) for xx, yy in offsets]


def build_wiring(spec: PVMSpec) -> Wiring:
    shapes = spec.layer_shapes
    starts = [0]
    for b in shapes:
        starts.append(starts[-1] + b * b)
    n = starts[-1]
    signals: list[list[int]] = [[] for _ in range(n)]
    lateral: list[list[int]] = [[] for _ in range(n)]
    feedback: list[list[int]] = [[] for _ in range(n)]
    two_back: list[list[int]] = [[] for _ in range(n)]
    cuda = spec.pvm_cuda_wiring
    radius = int(spec.lateral_radius) if cuda else spec.lateral_radius
    for layer, b in enumerate(shapes):
        # the original's gather_surround numbers the neighbours of every layer as the bottom layer's units
        lateral_start = 0 if spec.original_upper_lateral else starts[layer]
        for x in range(b):
            for y in range(b):
                unit = starts[layer] + x * b + y
                for sx, sy in surround(x, y, b, radius, spec.context_exclude_self):
                    lateral[unit].append(lateral_start + sx * b + sy)
                if layer == 0:
                    continue
                below = shapes[layer - 1]
                for sx, sy in fan_in(x, y, below, b, spec.fan_in_square_size, spec.fan_in_radius):
                    source = starts[layer - 1] + sx * below + sy
                    signals[unit].append(source)
                    feedback[source].append(unit)
                if spec.send_context_two_layers_back and layer > 1 and not cuda:
                    far = shapes[layer - 2]
                    for sx, sy in fan_in(x, y, far, b, 2 * spec.fan_in_square_size, 2 * spec.fan_in_radius):
                        two_back[starts[layer - 2] + sx * far + sy].append(unit)
    if spec.send_context_two_layers_back and cuda:
        for unit in range(n):
            two_back[unit] = [far for up in feedback[unit] for far in feedback[up]]
    top = range(starts[-2], n)
    contexts = []
    for unit in range(n):
        kinds = [(s, LATERAL) for s in lateral[unit]] + [(s, FEEDBACK) for s in feedback[unit] + two_back[unit]]
        if spec.last_layer_context_to_all and cuda:
            heard = {s for s, _ in kinds}
            kinds += [(s, GLOBAL) for s in top if s not in heard]
        elif spec.last_layer_context_to_all and unit < starts[-2]:
            kinds += [(s, GLOBAL) for s in top]
        contexts.append(tuple(kinds))
    return Wiring(tuple(starts), tuple(tuple(s) for s in signals), tuple(contexts))


def unit_sizes(spec: PVMSpec, wiring: Wiring, unit: int) -> tuple[int, int]:
    """(inputs without bias, outputs) of one unit's perceptron."""
    signal = spec.input_block_size ** 2 * 3 if unit < wiring.layer_starts[1] \
        else spec.hidden_size * len(wiring.signals[unit])
    inputs = spec.n_features * signal + spec.hidden_size * len(wiring.contexts[unit])
    return inputs, signal * (2 if spec.predict_two_steps else 1)


def count(spec: PVMSpec) -> Counts:
    """Units and weights by the original's wiring: per unit (inputs + 1)·hidden + (hidden + 1)·outputs."""
    wiring = build_wiring(spec)
    hidden = spec.hidden_size
    per_layer = []
    for layer in range(spec.n_layers):
        units = range(wiring.layer_starts[layer], wiring.layer_starts[layer + 1])
        sizes = [unit_sizes(spec, wiring, u) for u in units]
        weights = sum((i + 1) * hidden + (hidden + 1) * o for i, o in sizes)
        per_layer.append((len(units), weights, max(i for i, _ in sizes)))
    return Counts(units=wiring.n_units, weights=sum(w for _, w, _ in per_layer),
                  max_inputs=max(m for _, _, m in per_layer), per_layer=tuple(per_layer))
