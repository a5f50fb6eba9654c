"""The Predictive Vision Model (Piekniewski et al. 2016), every unit of the hierarchy batched.

Usage::

    spec = load_spec("pvm-paper")
    pvm = PVM(spec, device="cuda")
    result = pvm.step(frame)          # frame: (3, S, S) float in [0, 1], S = spec.frame_size
    result.predicted_frame            # (S, S, 3): the model's guess of the next frame
    result.layer_errors               # (layers,) mean |signal − prediction| on the device

``StepResult`` also holds, per layer, the signal it read, the prediction it had made for it, their
difference, its new state and its prediction of its next signal, all as images (see its doc).

Run-time controls, plain attributes read at every step:

* ``learning`` (bool) — online backprop on or off (off freezes weights and momentum);
* ``learning_rate`` (float or None) — None follows the spec's developmental schedule, a number
  makes every layer learn at that rate (negative unlearns);
* ``lateral``, ``feedback``, ``global_context`` (bool) — lesions: that kind of context input becomes
  zeros from the next step on, its weights kept; the spec's ``enable_*_at`` steps gate lateral and
  feedback too, and the top layer's context to all (which the original sends under the feedback
  factor) under feedback's step.

``step(frame, dream=None, layer_inputs=None, images=False)`` also takes

* ``dream`` — one factor per layer in [0, 1]: each unit's signal becomes
  ``(1 − d)·signal + d·(its own prediction of it)``; 1 everywhere is the original's "deep dream";
* ``layer_inputs`` — ``{layer: image}`` for layers ≥ 1: that layer reads the image (laid out like
  ``StepResult.hidden[layer − 1]``) instead of the states of the layer below, e.g. after a GLSL mix;
* ``images`` — the caller reads the result's ``SHOWN`` images at every step (a loop does): a
  captured step computes them inside its graph. Elsewhere they are computed when read, as always.

On CUDA, ``PVM(spec, "cuda", cuda_graphs=True)`` (the default) captures each kind of step
(learning or not, dreaming or not, reading a mix of which layers or none) as a CUDA graph the first
time it runs and replays it after. ``layer_inputs`` images are copied into static buffers that the
captured step reads, so a step given the GLSL mix replays like any other, and with ``images`` the
images a loop shows are computed inside the graph too.

Streams: ``PVM(spec, streams=B)`` runs B independent video streams through the same weights in one
step: ``step(frames)`` takes a (B, 3, S, S) batch, stream b reading frame b. Every stream has its own
activity (outputs, predictions, derivative, integral and error features); the weight update of a
step is the sum of the B per-stream updates, each the one a single stream would make at the same
rate. A sum, not a mean, because it composes: processes that each hold some of the streams and
all-reduce the sums of their updates make exactly the update of one process holding all of them,
whatever the split. So every frame teaches at the rate, as in one stream, and a step of B streams
moves the weights up to B times as far as a step of one; the spec's schedule (layer delays, the
final rate, context switch-on) counts steps, each of B frames. ``StepResult`` then shows stream 0;
``layer_errors`` is the mean over the streams, ``stream_errors`` has each.

``state_dict()`` / ``load_state_dict()`` hold the weights, momentum buffers, every unit's activity
and the step counter, so training resumes bit for bit; ``input_weights()`` gives the input-to-hidden
weights, which the state holds in the form described under Speed. With several streams the state
is that of stream 0 with the input weights as they act now, and ``streams_state()`` /
``load_streams_state()`` hold the rest (their momentum and the other streams' activity).

One step is what the original does in its three barrier-separated phases, starting from the
second: units take in the new signal (the frame block, or the outputs of the units below),
compare it with the prediction they made for it, learn from the error (backprop of both layers,
momentum), compute the derivative, integral and error features, gather context (their own
layer's outputs within the lateral radius, the outputs of the units above that read them, the
top layer's outputs), and finally run the perceptron forward: the hidden layer is the unit's new
output, the output layer the prediction of the next signal. So ``step`` returns the prediction of
the next frame at once, which dreaming feeds back.

Speed: units are grouped by signal size (the bottom layer; all higher layers) and every group runs
as a handful of batched matrix products over tensors of shape (units, outputs, inputs), padded to
the widest unit with zero inputs. The input-to-hidden weights are 90 % of the model. With momentum
μ, W_t = W_{t−1} + V_t and V_t = μV_{t−1} + g_t, g_t the rank-one update (input ⊗ scaled delta).
They are held as Z = W + c·V (c = μ/(1 − μ)), which moves by g_t/(1 − μ) alone, and as a ring of the
last L updates, from which V = Σ μ^age·g is rebuilt where it is needed: W·x = Z·x − c·Σ μ^age (g·x).
L is the smallest with μ^L < 2⁻²⁴ (24 for μ = 0.5), so the updates older than the ring weigh less
than float32 can resolve; each time the ring comes round, its updates enter Z in one batched
product. A learning step reads the weights about one and a half times instead of five. With
several streams a step's update has rank B, and a ring of L·B updates would outweigh the weights
themselves; there W and V are held as they are (``z1`` is W, ``v1`` is V) and a step reads them a few
times for all the streams together. Shapes never change and no step reads a value back to the host,
so a step can be captured as a CUDA graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property

import torch
from torch import Tensor, nn

from app.models.pvm.spec import PVMSpec
from app.models.pvm.wiring import FEEDBACK, GLOBAL, LATERAL, Wiring, build_wiring

MIN_HISTORY = 16                # batched folds of fewer updates run far below the CPU's arithmetic speed
RESOLUTION = 2.0 ** -24
COPY_SCALE, COPY_OFFSET = 0.8, 0.1      # PVM_cuda's compressed copies: 0.8·x + 0.1


def _activate(s: Tensor, polynomial: bool, half: Tensor, out: Tensor) -> Tensor:
    """s / (2(|s| + 1)) + 0.5 (the original's "polynomial sigmoid") or the logistic, into `out`;
    `half` is a 0.5 on the device."""
    if not polynomial:
        return torch.sigmoid(s, out=out)
    return torch.addcdiv(half, s, s.abs().add_(1), value=0.5, out=out)


def _slope(y: Tensor, polynomial: bool) -> Tensor:
    """The activation's derivative from its output y: (1 − |2y − 1|)²/2 = 2·min(y, 1 − y)², or y(1 − y)."""
    if not polynomial:
        return y * (1 - y)
    return torch.minimum(y, 1 - y).square_().mul_(2)


MOMENTUM = ("ring_x", "ring_d", "v2")     # a group's momentum state, which exports leave out
# the StepResult images a loop reads at every step (``step(images=True)``), each a list per layer or one image
SHOWN = ("prediction", "next_prediction", "hidden", "predicted_frame", "predicted_frame_t2")
# a group's state of one stream (``inp_prev`` … only where the spec predicts two steps); every unit
# holds them once per stream, the stream along dimension 1
ACTIVITY = ("inp", "out", "past", "integral", "inp_prev", "hid_prev", "out_prev")


def _history(momentum: float) -> int:
    """Updates the ring keeps: enough that μ^L is below float32 resolution."""
    if momentum == 0:
        return MIN_HISTORY
    return max(MIN_HISTORY, math.ceil(math.log(RESOLUTION) / math.log(momentum)))


class _Group(nn.Module):
    """All units that read signals of one size: the bottom layer (frame blocks) or every higher
    layer (hidden blocks of the layer below)."""

    def __init__(self, spec: PVMSpec, wiring: Wiring, units: range, history: int, streams: int,
                 generator: torch.Generator):
        super().__init__()
        self.start, self.n = units.start, len(units)
        self.bottom = units.start == 0
        hidden = spec.hidden_size
        self.block, self.slots, self.contexts, self.signal_width, self.width, self.outputs = \
            self.sizes(spec, wiring, units)

        n_pad = wiring.n_units                                              # the all-zero table row
        layers = [wiring.layer_of(u) for u in units]
        ctx_src = torch.full((self.n, self.contexts), n_pad, dtype=torch.long)
        ctx_kind = torch.zeros((self.n, self.contexts), dtype=torch.long)
        w1 = torch.zeros(self.n, hidden, self.width)
        fixed = spec.weight_init_range                                      # PVM_cuda's ±0.015 everywhere
        for i, u in enumerate(units):
            for c, (source, kind) in enumerate(wiring.contexts[u]):
                ctx_src[i, c], ctx_kind[i, c] = source, kind
            used = self.signal_width + len(wiring.contexts[u]) * hidden
            bound = fixed or 1 / used ** 0.5                                # the original's ±1/√fan-in
            w1[i, :, :used] = (torch.rand(hidden, used, generator=generator) * 2 - 1) * bound
            w1[i, :, -1] = (torch.rand(hidden, generator=generator) * 2 - 1) * bound
        w2 = (torch.rand(self.n, self.outputs, hidden + 1, generator=generator) * 2 - 1) * (fixed or 1 / hidden ** 0.5)
        self.register_buffer("layer", torch.tensor(layers), persistent=False)
        self.register_buffer("ctx_src", ctx_src, persistent=False)
        self.register_buffer("ctx_kind", ctx_kind, persistent=False)
        self.register_buffer("ctx_factor", torch.zeros(self.n, self.contexts, 1), persistent=False)
        if not self.bottom:
            self.register_buffer("sig_src", torch.tensor([wiring.signals[u] for u in units]), persistent=False)
        self.register_buffer("z1", w1, persistent=False)                  # see the module doc
        if streams == 1:
            self.register_buffer("ring_x", torch.zeros(self.n, history, self.width), persistent=False)
            self.register_buffer("ring_d", torch.zeros(self.n, history, hidden), persistent=False)
        else:
            self.register_buffer("v1", torch.zeros_like(w1), persistent=False)
        self.register_buffer("w2", w2, persistent=False)
        self.register_buffer("v2", torch.zeros_like(w2), persistent=False)
        self.register_buffer("lr", torch.zeros(self.n, 1, 1), persistent=False)
        inp = torch.zeros(self.n, streams, self.width)
        inp[:, :, -1] = 1
        self.register_buffer("inp", inp, persistent=False)
        self.register_buffer("out", torch.zeros(self.n, streams, self.outputs), persistent=False)
        self.register_buffer("past", torch.zeros(self.n, streams, self.slots, self.block), persistent=False)
        self.register_buffer("integral", torch.zeros(self.n, streams, self.slots, self.block), persistent=False)
        if spec.predict_two_steps:
            self.register_buffer("inp_prev", inp.clone(), persistent=False)
            self.register_buffer("hid_prev", torch.zeros(self.n, streams, hidden + 1), persistent=False)
            self.register_buffer("out_prev", torch.zeros(self.n, streams, self.outputs), persistent=False)

    @staticmethod
    def sizes(spec: PVMSpec, wiring: Wiring, units: range) -> tuple[int, int, int, int, int, int]:
        """(block, slots, contexts, signal width, width, outputs) of the group of ``units``."""
        bottom = units.start == 0
        hidden = spec.hidden_size
        block = spec.input_block_size ** 2 * 3 if bottom else hidden
        slots = 1 if bottom else len(wiring.signals[units.start])
        contexts = max(len(wiring.contexts[u]) for u in units)
        signal_width = slots * spec.n_features * block
        width = signal_width + contexts * hidden + 1                        # last input: bias
        outputs = slots * block * (2 if spec.predict_two_steps else 1)
        return block, slots, contexts, signal_width, width, outputs

    @classmethod
    def state_shapes(cls, spec: PVMSpec, wiring: Wiring, units: range, history: int) -> dict[str, tuple[int, ...]]:
        """The shapes of the group's entries in ``PVM.state_dict``, computed without making them."""
        n, hidden = len(units), spec.hidden_size
        block, slots, _, _, width, outputs = cls.sizes(spec, wiring, units)
        shapes = {"z1": (n, hidden, width), "ring_x": (n, history, width), "ring_d": (n, history, hidden),
                  "w2": (n, outputs, hidden + 1), "v2": (n, outputs, hidden + 1), "inp": (n, width),
                  "out": (n, outputs), "past": (n, slots, block), "integral": (n, slots, block)}
        if spec.predict_two_steps:
            shapes.update(inp_prev=(n, width), hid_prev=(n, hidden + 1), out_prev=(n, outputs))
        return shapes

    def prediction(self) -> Tensor:
        """(units, streams, slots, block): each unit's latest prediction of its next signal."""
        return self.out[:, :, :self.slots * self.block].view(self.n, -1, self.slots, self.block)


class StepResult:
    """What one step saw and did (of stream 0, with several streams). Tensors live on the model's
    device; images are (H, W, C) floats in [0, 1], C = 3 for layer 0 (the frame) and 1 for
    hidden-state layouts (a b×b grid of hidden_block_size² tiles, unit (x, y) at tile row x, column
    y). Per layer l:

    * ``signal[l]`` — what layer l read this step: the frame, or (l ≥ 1) the states of layer l − 1;
    * ``prediction[l]`` — what layer l had predicted for that signal the step before;
    * ``error[l]`` — |signal − prediction|;
    * ``next_prediction[l]`` — layer l's prediction of its next signal;
    * ``hidden[l]`` — layer l's new state (its units' outputs);

    plus ``predicted_frame`` (= ``next_prediction[0]``), ``predicted_frame_t2`` (the frame after
    next, or None unless the spec predicts two steps), ``layer_errors`` (mean error per layer, the
    mean over the streams) and ``stream_errors`` (streams, layers).
    Where fan-in squares overlap, a signal read by several units shows their mean.
    """

    def __init__(self, model: PVM, step: int, record: Tensor, shown: dict | None = None):
        self.step = step
        self._model = model
        self.__dict__.update(shown or {})       # images the step computed already (``SHOWN``)
        parts = model.unpack(record)
        self._signals, self._predictions, self._outputs = parts[0], parts[1], parts[2]
        self._hidden, self.stream_errors = parts[3], parts[4]
        self.layer_errors = self.stream_errors[0] if model.streams == 1 else self.stream_errors.mean(0)

    @property
    def frame_error(self) -> float:
        """Mean |frame − prediction| (reads back from the device)."""
        return float(self.layer_errors[0])

    @cached_property
    def signal(self) -> list[Tensor]:
        return self._model.signal_images(self._signals)

    @cached_property
    def prediction(self) -> list[Tensor]:
        return self._model.signal_images(self._predictions)

    @cached_property
    def error(self) -> list[Tensor]:
        return [(s - p).abs_() for s, p in zip(self.signal, self.prediction)]

    @cached_property
    def next_prediction(self) -> list[Tensor]:
        return self._model.signal_images([self._model.head(g, o, 0) for g, o in
                                          zip(self._model.groups, self._outputs)])

    @cached_property
    def hidden(self) -> list[Tensor]:
        starts = self._model.wiring.layer_starts
        return [self._model.hidden_image(self._hidden[starts[layer]:starts[layer + 1]], layer)
                for layer in range(self._model.spec.n_layers)]

    @cached_property
    def predicted_frame(self) -> Tensor:
        return self._model.frame_image(self._model.head(self._model.groups[0], self._outputs[0], 0))

    @cached_property
    def predicted_frame_t2(self) -> Tensor | None:
        if not self._model.spec.predict_two_steps:
            return None
        bottom = self._model.groups[0]
        return self._model.frame_image(self._model.head(bottom, self._outputs[0], 1))


def _group_units(wiring: Wiring, n_layers: int) -> list[range]:
    """The units of each group: the bottom layer, then every higher layer."""
    starts = wiring.layer_starts
    return [range(0, starts[1])] + ([range(starts[1], starts[-1])] if n_layers > 1 else [])


def state_shapes(spec: PVMSpec, exported: bool = False) -> dict[str, tuple[int, ...]]:
    """The shapes of ``PVM(spec).state_dict()`` (of ``export_state()`` when ``exported``) from the spec
    and its wiring alone, allocating no tensor: a card is checked against its weights with them."""
    wiring = build_wiring(spec)
    shapes = {"steps": (), "ring_slot": (), "hidden": (wiring.n_units + 1, spec.hidden_size + 1)}
    for k, units in enumerate(_group_units(wiring, spec.n_layers)):
        group = _Group.state_shapes(spec, wiring, units, _history(spec.momentum))
        shapes.update({f"g{k}.{name}": shape for name, shape in group.items()})
    if exported:
        del shapes["ring_slot"]
        for k in range(len(_group_units(wiring, spec.n_layers))):
            for name in MOMENTUM:
                del shapes[f"g{k}.{name}"]
    return shapes


def streams_state_shapes(spec: PVMSpec, streams: int) -> dict[str, tuple[int, ...]]:
    """The shapes of ``PVM(spec, streams=streams).streams_state()`` (nothing for one stream)."""
    if streams == 1:
        return {}
    shapes = state_shapes(spec)
    groups = len(_group_units(build_wiring(spec), spec.n_layers))
    out = {f"g{k}.v1": shapes[f"g{k}.z1"] for k in range(groups)}
    activity = ["hidden"] + [f"g{k}.{name}" for k in range(groups) for name in ACTIVITY]
    out.update({f"streams.{key}": (streams - 1, *shapes[key]) for key in activity if key in shapes})
    return out


class PVM(nn.Module):
    kind = "pvm"

    def __init__(self, spec: PVMSpec, device: torch.device | str = "cpu", seed: int = 0,
                 cuda_graphs: bool = True, streams: int = 1):
        super().__init__()
        if streams < 1:
            raise ValueError(f"a PVM needs at least one stream, got {streams}")
        self.spec = spec
        self.streams = streams
        self.wiring = build_wiring(spec)
        self.history = _history(spec.momentum)
        generator = torch.Generator().manual_seed(seed)
        self.groups = nn.ModuleList([_Group(spec, self.wiring, units, self.history, streams, generator)
                                     for units in _group_units(self.wiring, spec.n_layers)])
        n, hidden = self.wiring.n_units, spec.hidden_size
        table = torch.zeros(n + 1, streams, hidden + 1)                     # every unit's output, then
        table[:n, :, -1] = 1                                                # a bias; the last row is the
        self.register_buffer("table", table, persistent=False)             # zero source of padding
        self.register_buffer("frame_in", torch.zeros(streams, 3, spec.frame_size, spec.frame_size),
                             persistent=False)
        self.register_buffer("dream_in", torch.zeros(spec.n_layers), persistent=False)
        self._add_layout_buffers()
        self._add_ring_buffers()
        self._add_record_layout()
        self.learning = True
        self.learning_rate: float | None = None
        self.lateral = self.feedback = self.global_context = True
        self.steps = 0
        self.cuda_graphs = cuda_graphs          # replay each kind of step as a captured graph on CUDA
        # several streams: sums a step's per-group updates [ΔV2, ΔV1] in place over the processes that
        # share the weights (each holding some of the streams) before they are applied
        self.share_updates: Callable[[list[Tensor]], None] | None = None
        self._graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, Tensor]] = {}
        self._slot = 0                          # the ring slot the next update goes to
        self._rates: list[float] | None = None
        self._factors: tuple[float, ...] | None = None
        self.to(device)
        with torch.no_grad():
            self._forward_all(slice(0, 1))      # the original's first phase, on all-zero inputs

    # ----------------------------------------------------------------------------------------- API
    @property
    def config(self) -> PVMSpec:
        return self.spec

    @property
    def device(self) -> torch.device:
        return self.table.device

    @property
    def _ring(self) -> bool:
        """The input weights' momentum is held as a ring of updates (one stream), not as V."""
        return self.streams == 1

    def learning_rates(self) -> list[float]:
        """Each layer's learning rate at the current step (0 where it does not learn yet)."""
        if not self.learning:
            return [0.0] * self.spec.n_layers
        if self.learning_rate is not None:
            return [float(self.learning_rate)] * self.spec.n_layers
        return [self.spec.learning_rate(layer, self.steps) for layer in range(self.spec.n_layers)]

    def context_factors(self) -> tuple[float, float, float]:
        """(lateral, feedback, global) multipliers of the context inputs at the current step."""
        lateral = float(self.lateral and self.steps >= self.spec.enable_lateral_at)
        feedback_on = self.steps >= self.spec.enable_feedback_at
        return lateral, float(self.feedback and feedback_on), float(self.global_context and feedback_on)

    @torch.no_grad()
    def step(self, frame: Tensor, dream: Sequence[float] | Tensor | None = None,
             layer_inputs: Mapping[int, Tensor] | None = None, images: bool = False) -> StepResult:
        size, layers, streams = self.spec.frame_size, self.spec.n_layers, self.streams
        shape = (3, size, size) if streams == 1 else (streams, 3, size, size)
        if tuple(frame.shape) != shape or not frame.is_floating_point():
            what = "frame" if streams == 1 else "batch of frames, one per stream"
            raise ValueError(f"PVM.step needs a {shape} float {what} in [0, 1], got {tuple(frame.shape)} "
                             f"{frame.dtype}")
        mixed = self._take_layer_inputs(layer_inputs) if layer_inputs else ()
        self.frame_in.view(shape).copy_(frame)
        if dream is not None:
            dream = torch.as_tensor(dream, dtype=torch.float32)
            if tuple(dream.shape) != (layers,):
                raise ValueError(f"dream needs one factor per layer ({layers}), got shape {tuple(dream.shape)}")
            self.dream_in.copy_(dream)
        rates = self.learning_rates()
        learn = any(rates)
        if learn:
            self._set_rates(rates)
            if self._ring and self._slot == 0:
                self._fold()
        self._set_factors(self.context_factors())
        shown = None
        if self._graphed:
            record, shown = self._split(self._replay(learn, dream is not None, mixed, images), images)
        else:
            record = self._body(learn, dream is not None, slice(self._slot, self._slot + 1), mixed)
        if learn and self._ring:
            self._slot = (self._slot + 1) % self.history
        self.steps += 1
        return StepResult(self, self.steps, record, shown)

    def input_weights(self) -> list[Tensor]:
        """Per group, the input-to-hidden weights W (units, hidden, inputs), padding columns included."""
        if not self._ring:
            return [g.z1.clone() for g in self.groups]
        return [g.z1.baddbmm(self._ring_weighted(g), g.ring_x) for g in self.groups]

    def input_weights_of(self, units: range) -> Tensor:
        """The input-to-hidden weights W of ``units`` (of one group), as ``input_weights`` gives them."""
        g = next(g for g in self.groups if g.start <= units.start < g.start + g.n)
        rows = slice(units.start - g.start, units.stop - g.start)
        if not self._ring:
            return g.z1[rows].clone()
        ring = g.ring_d[rows].transpose(1, 2) * self.ring_coef[self._slot].view(1, 1, -1)
        return g.z1[rows].baddbmm(ring, g.ring_x[rows])

    def state_dict(self, *args, **kwargs) -> dict[str, Tensor]:
        """Everything a step of one stream depends on, so that a loaded model continues bit for bit:
        Z and the ring of updates (W = Z + Σ ring_coef·g, see ``input_weights``), W2 and its momentum
        V2, every unit's activity and the step counter. With several streams: W itself with an empty
        ring, and the activity of stream 0 (``streams_state`` has the rest)."""
        state = {"steps": torch.tensor(self.steps, dtype=torch.int64),
                 "ring_slot": torch.tensor(self._slot, dtype=torch.int64), "hidden": self.table[:, 0].clone()}
        for k, g in enumerate(self.groups):
            if self._ring:
                ring = {"ring_x": g.ring_x.clone(), "ring_d": g.ring_d.clone()}
            else:
                ring = {"ring_x": g.z1.new_zeros(g.n, self.history, g.width),
                        "ring_d": g.z1.new_zeros(g.n, self.history, self.spec.hidden_size)}
            state.update({f"g{k}.z1": g.z1.clone(), **{f"g{k}.{name}": t for name, t in ring.items()},
                          f"g{k}.w2": g.w2.clone(), f"g{k}.v2": g.v2.clone()})
            state.update({f"g{k}.{name}": getattr(g, name)[:, 0].clone() for name in ACTIVITY if hasattr(g, name)})
        return state

    def streams_state(self) -> dict[str, Tensor]:
        """What ``state_dict`` leaves out of a model of several streams: the input weights' momentum V
        (``g{k}.v1``) and the activity of streams 1 … B − 1 (``streams.KEY``, KEY as in
        ``state_dict``, the stream first). Empty for one stream."""
        if self._ring:
            return {}
        state = {f"g{k}.v1": g.v1.clone() for k, g in enumerate(self.groups)}
        for key, t in self._activity().items():
            state[f"streams.{key}"] = t[:, 1:].transpose(0, 1).clone(memory_format=torch.contiguous_format)
        return state

    @torch.no_grad()
    def load_streams_state(self, state: Mapping[str, Tensor]) -> None:
        """Loads what ``streams_state`` gave, after ``load_state_dict``."""
        _check_state(state, streams_state_shapes(self.spec, self.streams), f"PVM state of {self.streams} streams")
        for k, g in enumerate(self.groups):
            g.v1.copy_(state[f"g{k}.v1"])
        for key, t in self._activity().items():
            t[:, 1:].copy_(state[f"streams.{key}"].transpose(0, 1))

    @torch.no_grad()
    def export_state(self, dtype: torch.dtype = torch.float16) -> dict[str, Tensor]:
        """What a shipped model keeps: the weights as they act now in ``dtype`` (the momentum history
        folded into W and dropped: a loaded export goes on learning with its momentum at zero), every
        unit's activity and the step counter. About a third of ``state_dict``'s size at float16."""
        state = self.state_dict()
        del state["ring_slot"]
        for k, w1 in enumerate(self.input_weights()):
            state[f"g{k}.z1"] = w1
            for name in MOMENTUM:
                del state[f"g{k}.{name}"]
        return {k: v.to(dtype) if k.endswith((".z1", ".w2")) else v for k, v in state.items()}

    @torch.no_grad()
    def load_state_dict(self, state: Mapping[str, Tensor], strict: bool = True, assign: bool = False):
        """Loads a ``state_dict`` or an ``export_state``. With several streams, every stream starts
        from its activity, and the input weights' momentum V is the ring's."""
        if "ring_slot" not in state:                # an export: momentum starts at zero
            shapes = state_shapes(self.spec)
            state = {**state, "ring_slot": torch.tensor(0)}
            for k in range(len(self.groups)):
                state.update({f"g{k}.{name}": torch.zeros(shapes[f"g{k}.{name}"]) for name in MOMENTUM})
        _check_state(state, state_shapes(self.spec), "PVM state")
        self.steps = int(state["steps"])
        slot = int(state["ring_slot"])
        self._slot = slot if self._ring else 0
        self.slot.fill_(self._slot)
        self.table.copy_(state["hidden"].unsqueeze(1))
        for k, g in enumerate(self.groups):
            z1, ring_x, ring_d = (state[f"g{k}.{name}"].to(self.device, torch.float32)
                                  for name in ("z1", "ring_x", "ring_d"))
            if self._ring:
                g.z1.copy_(z1)
                g.ring_x.copy_(ring_x)
                g.ring_d.copy_(ring_d)
            else:
                mu = self.spec.momentum
                decay = torch.tensor([mu ** ((slot - 1 - s) % self.history) for s in range(self.history)],
                                     device=self.device)
                g.z1.copy_(z1.baddbmm(ring_d.transpose(1, 2) * self.ring_coef[slot].view(1, 1, -1), ring_x))
                g.v1.copy_(torch.bmm(ring_d.transpose(1, 2) * decay.view(1, 1, -1), ring_x))
            g.w2.copy_(state[f"g{k}.w2"])
            g.v2.copy_(state[f"g{k}.v2"])
            for name in ACTIVITY:
                if hasattr(g, name):
                    getattr(g, name).copy_(state[f"g{k}.{name}"].unsqueeze(1))
        self._rates = self._factors = None

    def _activity(self) -> dict[str, Tensor]:
        """The per-stream tensors by their ``state_dict`` key, the stream along dimension 1."""
        activity = {"hidden": self.table}
        for k, g in enumerate(self.groups):
            activity.update({f"g{k}.{name}": getattr(g, name) for name in ACTIVITY if hasattr(g, name)})
        return activity

    def _apply(self, fn, recurse=True):
        self._graphs.clear()                    # captured graphs point at the old tensors
        return super()._apply(fn, recurse)

    # ----------------------------------------------------------------------------------- one step
    def _body(self, learn: bool, dream: bool, slot: slice | Tensor, mixed: tuple[int, ...] = ()):
        """All of a step's device work; no host decisions inside, so it can be captured. `slot` is the
        ring slot to write: a slice where the host knows it, the device's counter in a graph; `mixed`
        the layers that read their ``mix`` buffer instead of the layer below."""
        signals = [self._frame_signal()]
        if len(self.groups) > 1:
            signals.append(self._hidden_signal(self._mixed_states(mixed) if mixed else self.table[:, :, :-1]))
        if dream:
            for g, x in zip(self.groups, signals):
                x.lerp_(g.prediction(), torch.index_select(self.dream_in, 0, g.layer).view(-1, 1, 1, 1))
        predictions = [g.prediction().clone() for g in self.groups]
        if learn:
            for g, x in zip(self.groups, signals):
                self._learn(g, x, slot)
            if self._ring:
                self.slot.add_(1).remainder_(self.history)
                if isinstance(slot, slice):
                    slot = slice((slot.start + 1) % self.history, (slot.start + 1) % self.history + 1)
        for g, x in zip(self.groups, signals):
            self._encode(g, x)
        self._forward_all(slot)
        errors = self._layer_errors(signals, predictions)
        parts = [*(x[:, 0] for x in signals), *(p[:, 0] for p in predictions), *(g.out[:, 0] for g in self.groups),
                 self.table[:-1, 0, :-1], errors]
        return torch.cat([part.reshape(-1) for part in parts])

    def unpack(self, record: Tensor) -> tuple[list[Tensor], list[Tensor], list[Tensor], Tensor, Tensor]:
        """A step's record as stream 0's (signals, predictions, outputs) per group and hidden states, and
        every stream's layer errors (streams, layers)."""
        groups, hidden = self.groups, self.spec.hidden_size
        shapes = ([(g.n, g.slots, g.block) for g in groups] * 2 + [(g.n, g.outputs) for g in groups]
                  + [(self.wiring.n_units, hidden), (self.streams, self.spec.n_layers)])
        parts = torch.split(record, [math.prod(shape) for shape in shapes])
        parts = [part.view(shape) for part, shape in zip(parts, shapes)]
        k = len(groups)
        return parts[:k], parts[k:2 * k], parts[2 * k:3 * k], parts[3 * k], parts[3 * k + 1]

    @property
    def _graphed(self) -> bool:
        return self.cuda_graphs and self.device.type == "cuda"

    def _replay(self, learn: bool, dream: bool, mixed: tuple[int, ...], images: bool) -> Tensor:
        """``_captured`` as a CUDA graph: the first step of each kind runs eagerly and is then captured."""
        key = (learn, dream, mixed, images)
        if key in self._graphs:
            graph, output = self._graphs[key]
            graph.replay()
            return output.clone()
        output = self._captured(learn, dream, mixed, images)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):           # records the kernels without running them
            self._graphs[key] = (graph, self._captured(learn, dream, mixed, images))
        return output

    def _captured(self, learn: bool, dream: bool, mixed: tuple[int, ...], images: bool) -> Tensor:
        """What a graph of a step holds: the body at the device's ring slot, then with ``images`` the
        ``SHOWN`` images of the step, flat."""
        record = self._body(learn, dream, self.slot, mixed)
        if not images:
            return record
        shown, flat = StepResult(self, self.steps, record), []
        for name, shapes in self._shown_shapes.items():
            image = getattr(shown, name)
            flat += image if isinstance(shapes, list) else ([image] if image is not None else [])
        return torch.cat([record, *(image.reshape(-1) for image in flat)])

    def _split(self, output: Tensor, images: bool) -> tuple[Tensor, dict | None]:
        """A replay's output as the record and, with ``images``, the ``SHOWN`` images after it."""
        if not images:
            return output, None
        rest, at, shown = output[self._record_size:], 0, {}
        for name, shapes in self._shown_shapes.items():
            views = []
            for shape in _shapes(shapes):
                views.append(rest[at:at + math.prod(shape)].view(shape))
                at += math.prod(shape)
            shown[name] = views if isinstance(shapes, list) else (views[0] if views else None)
        return output[:self._record_size], shown

    def _add_record_layout(self) -> None:
        """The size of a step's record and the shape of every ``SHOWN`` image, in their order."""
        groups, spec = self.groups, self.spec
        self._record_size = (sum(2 * g.n * g.slots * g.block + g.n * g.outputs for g in groups)
                             + self.wiring.n_units * spec.hidden_size + self.streams * spec.n_layers)
        frame = (spec.frame_size, spec.frame_size, 3)
        k = spec.hidden_block_size
        hidden = [(b * k, b * k, 1) for b in spec.layer_shapes]
        layout = {"prediction": [frame, *hidden[:-1]], "next_prediction": [frame, *hidden[:-1]], "hidden": hidden,
                  "predicted_frame": frame, "predicted_frame_t2": frame if spec.predict_two_steps else None}
        self._shown_shapes = {name: layout[name] for name in SHOWN}

    # ------------------------------------------------------------------------------------ signals
    def _frame_signal(self) -> Tensor:
        """(units, streams, 1, block): every unit's block of its stream's frame."""
        b, s = self.spec.layer_shapes[0], self.spec.input_block_size
        # unit row, col; stream; pixel row, col, rgb
        blocks = self.frame_in.view(self.streams, 3, b, s, b, s).permute(2, 4, 0, 3, 5, 1)
        blocks = blocks.reshape(b * b, self.streams, 1, s * s * 3)
        return blocks * COPY_SCALE + COPY_OFFSET if self.spec.compress_frame else blocks

    def _hidden_signal(self, states: Tensor) -> Tensor:
        """(units, streams, slots, hidden) from every unit's output (units, streams, hidden)."""
        g = self.groups[1]
        x = torch.index_select(states, 0, g.sig_src.view(-1)).view(g.n, g.slots, self.streams, -1).transpose(1, 2)
        return x.mul_(COPY_SCALE).add_(COPY_OFFSET) if self.spec.compress_hidden_copies else x

    def _take_layer_inputs(self, layer_inputs: Mapping[int, Tensor]) -> tuple[int, ...]:
        """Copies each image into its layer's ``mix`` buffer, which a step (captured or not) reads; the
        layers, in order."""
        if not self._ring:
            raise ValueError(f"layer_inputs: a PVM of {self.streams} streams reads no mix; use one stream")
        for layer, image in layer_inputs.items():
            if not 1 <= layer < self.spec.n_layers:
                raise ValueError(f"layer_inputs: {layer} is not a layer between 1 and {self.spec.n_layers - 1}")
            buffer = getattr(self, f"mix{layer}")
            if image.numel() != buffer.numel():
                raise ValueError(f"layer_inputs[{layer}] must be a {buffer.shape[0]}×{buffer.shape[1]} image, "
                                 f"got {tuple(image.shape)}")
            buffer.copy_(image.reshape(buffer.shape))
        return tuple(sorted(layer_inputs))

    def _mixed_states(self, layers: tuple[int, ...]) -> Tensor:
        """Every unit's output, with the layers below `layers` replaced by their ``mix`` buffers."""
        states = self.table[:, :, :-1].clone()
        for layer in layers:
            lo, hi = self.wiring.layer_starts[layer - 1], self.wiring.layer_starts[layer]
            states[lo:hi, 0] = self._image_rows(getattr(self, f"mix{layer}"), layer - 1)
        return states

    # ----------------------------------------------------------------------------------- learning
    def _set_rates(self, rates: list[float]) -> None:
        if rates != self._rates:
            per_layer = torch.tensor(rates, device=self.device)
            for g in self.groups:
                g.lr.copy_(per_layer[g.layer].view(-1, 1, 1))
            self._rates = rates

    def _learn(self, g: _Group, x: Tensor, slot: slice | Tensor) -> None:
        """Backprop of (signal − prediction) through both layers; momentum updates, of all streams at once."""
        poly, mu = self.spec.polynomial, self.spec.momentum
        n, hidden, streams = g.n, self.spec.hidden_size, self.streams
        if self.spec.predict_two_steps:
            inp, hid, out = g.inp_prev, g.hid_prev, g.out_prev
            target = torch.cat([g.past.reshape(n, streams, -1), x.reshape(n, streams, -1)], 2)
        else:
            inp, hid, out = g.inp, self.table[g.start:g.start + n], g.out
            target = x.reshape(n, streams, -1)
        d_out = (target - out).mul_(_slope(out, poly)).mul_(g.lr)            # learning rate folded in
        d_hid = torch.bmm(d_out, g.w2[:, :, :hidden]).mul_(_slope(hid[:, :, :hidden], poly))
        if self._ring:
            # one stream's update is an outer product, kept elementwise: a product over an inner size
            # of 1 may fuse the multiply and the add, and round otherwise
            g.v2.mul_(mu).addcmul_(d_out.transpose(1, 2), hid)
            g.w2.add_(g.v2)
            g.ring_x[:, slot] = inp
            g.ring_d[:, slot] = d_hid
            return
        if self.share_updates is not None:      # summed with other processes' streams first
            u2, u1 = torch.bmm(d_out.transpose(1, 2), hid), torch.bmm(d_hid.transpose(1, 2), inp)
            self.share_updates([u2, u1])
            g.v2.mul_(mu).add_(u2)
            g.w2.add_(g.v2)
            g.v1.mul_(mu).add_(u1)
            g.z1.add_(g.v1)
            return
        g.v2.mul_(mu).baddbmm_(d_out.transpose(1, 2), hid)                  # Σ over the streams
        g.w2.add_(g.v2)
        g.v1.mul_(mu).baddbmm_(d_hid.transpose(1, 2), inp)
        g.z1.add_(g.v1)

    def _fold(self) -> None:
        """The ring has come round: its updates enter Z (each g as g/(1 − μ))."""
        for g in self.groups:
            g.z1.baddbmm_(g.ring_d.transpose(1, 2), g.ring_x, alpha=1 / (1 - self.spec.momentum))

    def _ring_weighted(self, g: _Group) -> Tensor:
        """(units, hidden, L): ring deltas times their weight in W − Z at the current slot."""
        return g.ring_d.transpose(1, 2) * self.ring_coef[self._slot].view(1, 1, -1)

    # ------------------------------------------------------------------------------------ forward
    def _set_factors(self, factors: tuple[float, ...]) -> None:
        if factors != self._factors:
            values = torch.zeros(GLOBAL + 1)
            values[LATERAL], values[FEEDBACK], values[GLOBAL] = factors
            values = values.to(self.device)
            for g in self.groups:
                g.ctx_factor.copy_(values[g.ctx_kind].unsqueeze(2))
            self._factors = factors

    def _encode(self, g: _Group, x: Tensor) -> None:
        """The unit inputs for the next prediction: signal features, then context, then the bias."""
        spec, n, streams = self.spec, g.n, self.streams
        if spec.predict_two_steps:
            g.inp_prev.copy_(g.inp)
            g.hid_prev.copy_(self.table[g.start:g.start + n])
            g.out_prev.copy_(g.out)
        features = g.inp[:, :, :g.signal_width].view(n, streams, g.slots, spec.n_features, g.block)
        features[:, :, :, 0] = x
        f = 1
        centred = x * 0.5 + 0.5 if spec.use_derivative or spec.use_error else None
        if spec.use_derivative:                 # 0.5·(x − x_{t−1}) + 0.5
            torch.add(centred, g.past, alpha=-0.5, out=features[:, :, :, f])
            f += 1
        if spec.use_integral:
            features[:, :, :, f] = g.integral.lerp_(x, 1 - spec.tau)
            f += 1
        if spec.use_error:                      # 0.5·(x − prediction) + 0.5
            torch.add(centred, g.prediction(), alpha=-0.5, out=features[:, :, :, f])
            f += 1
        if spec.use_t_minus_2_block:
            features[:, :, :, f] = g.past
        g.past.copy_(x)
        width = self.table.shape[2]
        context = torch.index_select(self.table, 0, g.ctx_src.view(-1)).view(n, g.contexts, streams, width)
        read = g.inp[:, :, g.signal_width:-1].view(n, streams, g.contexts, width - 1)
        torch.mul(context[..., :-1].transpose(1, 2), g.ctx_factor.unsqueeze(1), out=read)
        if spec.compress_hidden_copies:         # (0.8·h + 0.1)·factor: padding and lesions stay zero
            read.mul_(COPY_SCALE).add_(g.ctx_factor.unsqueeze(1), alpha=COPY_OFFSET)

    def _forward_all(self, slot: slice | Tensor) -> None:
        """Every unit's new output (into the table) and prediction. `slot`: the ring slot the next
        update goes to, which sets the weights of the ring's updates in W."""
        poly, hidden = self.spec.polynomial, self.spec.hidden_size
        coef = self.ring_coef[slot].view(1, 1, -1)
        for g in self.groups:
            x = g.inp.transpose(1, 2)                                       # (units, inputs, streams)
            s = torch.bmm(g.z1, x)
            if self._ring:
                s = s.view(g.n, 1, hidden)
                s.baddbmm_(torch.bmm(g.ring_x, x).transpose(1, 2).mul_(coef), g.ring_d)
            else:
                s = s.transpose(1, 2)
            rows = self.table[g.start:g.start + g.n]                        # (units, streams, hidden + 1)
            _activate(s, poly, self.one_half, out=rows[:, :, :hidden])
            torch.bmm(g.w2, rows.transpose(1, 2), out=g.out.transpose(1, 2))
            _activate(g.out, poly, self.one_half, out=g.out)

    @property
    def _c(self) -> float:
        return self.spec.momentum / (1 - self.spec.momentum)

    # ------------------------------------------------------------------------------------ layouts
    def _add_ring_buffers(self) -> None:
        """ring_coef[p, s]: the weight of ring slot s in W − Z when slot p is the next to write:
        −c·μ^age, plus 1/(1 − μ) while the update is not in Z yet: the slots before p, or all of
        them at p = 0, as the ring is folded into Z just before slot 0 is written again."""
        mu, c, n = self.spec.momentum, self._c, self.history
        coef = torch.zeros(n, n)
        for p in range(n):
            for slot in range(n):
                age = (p - 1 - slot) % n
                coef[p, slot] = -c * mu ** age + (1 / (1 - mu) if slot < p or p == 0 else 0.0)
        self.register_buffer("ring_coef", coef, persistent=False)
        self.register_buffer("slot", torch.zeros(1, dtype=torch.long), persistent=False)
        self.register_buffer("one_half", torch.tensor(0.5), persistent=False)

    def _add_layout_buffers(self) -> None:
        """Index maps for the images of StepResult and for the per-layer errors; the static buffers
        of ``layer_inputs``."""
        starts = self.wiring.layer_starts
        k = self.spec.hidden_block_size
        for layer in range(1, self.spec.n_layers):
            units = range(starts[layer], starts[layer + 1])
            sources = torch.tensor([s - starts[layer - 1] for u in units for s in self.wiring.signals[u]])
            readers = torch.bincount(sources, minlength=starts[layer] - starts[layer - 1]).clamp_(min=1)
            self.register_buffer(f"sources{layer}", sources, persistent=False)
            self.register_buffer(f"readers{layer}", readers.float().unsqueeze(1), persistent=False)
            side = self.spec.layer_shapes[layer - 1] * k
            self.register_buffer(f"mix{layer}", torch.zeros(side, side), persistent=False)
        units_per_layer = torch.tensor([b * b for b in self.spec.layer_shapes], dtype=torch.float32)
        # a compressed signal's errors are counted in the units of the signal itself (÷ 0.8)
        compressed = [self.spec.compress_frame] + [self.spec.compress_hidden_copies] * (self.spec.n_layers - 1)
        units_per_layer *= torch.tensor([COPY_SCALE if c else 1.0 for c in compressed])
        self.register_buffer("units_per_layer", units_per_layer.unsqueeze(1), persistent=False)

    def head(self, g: _Group, out: Tensor, k: int) -> Tensor:
        """Prediction head k (0: next step, 1: the step after) of output rows `out`, as (units, slots, block)."""
        width = g.slots * g.block
        return out[:, k * width:(k + 1) * width].view(g.n, g.slots, g.block)

    def frame_image(self, blocks: Tensor) -> Tensor:
        b, s = self.spec.layer_shapes[0], self.spec.input_block_size
        image = blocks.reshape(b, b, s, s, 3).permute(0, 2, 1, 3, 4).reshape(b * s, b * s, 3)
        return _uncompressed(image) if self.spec.compress_frame else image

    def hidden_image(self, rows: Tensor, layer: int) -> Tensor:
        """The states of `layer`'s units (b², k²) as a (b·k, b·k, 1) image of k×k tiles."""
        b, k = self.spec.layer_shapes[layer], self.spec.hidden_block_size
        return rows.reshape(b, b, k, k).permute(0, 2, 1, 3).reshape(b * k, b * k, 1)

    def _image_rows(self, image: Tensor, layer: int) -> Tensor:
        """The inverse of ``hidden_image``: a (b·k, b·k) image as the (b², k²) states of `layer`'s units."""
        b, k = self.spec.layer_shapes[layer], self.spec.hidden_block_size
        return image.reshape(b, k, b, k).permute(0, 2, 1, 3).reshape(b * b, k * k)

    def signal_images(self, per_group: list[Tensor]) -> list[Tensor]:
        """Per-group (units, slots, block) signals as one image per layer, averaging shared sources."""
        images = [self.frame_image(per_group[0])]
        starts = self.wiring.layer_starts
        for layer in range(1, self.spec.n_layers):
            lo, hi = starts[layer] - starts[1], starts[layer + 1] - starts[1]
            slots = per_group[1][lo:hi].reshape(-1, self.spec.hidden_size)
            sources = getattr(self, f"sources{layer}")
            rows = torch.zeros(starts[layer] - starts[layer - 1], self.spec.hidden_size, device=slots.device)
            rows.index_add_(0, sources, slots).div_(getattr(self, f"readers{layer}"))
            rows = _uncompressed(rows) if self.spec.compress_hidden_copies else rows
            images.append(self.hidden_image(rows, layer - 1))
        return images

    def _layer_errors(self, signals: list[Tensor], predictions: list[Tensor]) -> Tensor:
        """(streams, layers): the mean |signal − prediction| of every layer in every stream."""
        errors = torch.zeros(self.spec.n_layers, self.streams, device=self.device)
        for g, x, p in zip(self.groups, signals, predictions):
            per_unit = (x - p).abs_().reshape(g.n, self.streams, -1).mean(2)
            errors.index_add_(0, g.layer, per_unit)
        return errors.div_(self.units_per_layer).t()


def _uncompressed(signal: Tensor) -> Tensor:
    """A signal read as COPY_SCALE·x + COPY_OFFSET, back in [0, 1] (PVM_cuda's ``uncompress_tensor``)."""
    return signal.sub(COPY_OFFSET).div_(COPY_SCALE).clamp_(0, 1)


def _shapes(layout) -> list[tuple[int, ...]]:
    """The image shapes of one ``SHOWN`` entry: a list per layer, one image, or none."""
    if layout is None:
        return []
    return layout if isinstance(layout, list) else [layout]


def _check_state(state: Mapping[str, Tensor], expected: dict[str, tuple[int, ...]], what: str) -> None:
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{what} does not fit this spec: missing {missing[:3]}, unexpected {unexpected[:3]}")
    for key, shape in expected.items():
        if tuple(state[key].shape) != tuple(shape):
            raise ValueError(f"{what} {key} has shape {tuple(state[key].shape)}, this spec needs {tuple(shape)}")
