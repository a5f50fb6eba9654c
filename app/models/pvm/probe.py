"""A PVM's units as ``app.models.probing`` probes them: through their fan-in hierarchy.

Probe layer l is PVM layer l − 1 (so layer l of the probe is what the loop's feature layer l holds, as
the grid view shows it; the top PVM layer, which feeds no layer, is probe layer L as well). Unit c at
position (x, y) is hidden neuron c of the PVM unit at (x, y) of that layer's grid. A PVM unit has weights
of its own, so positions do not share a function (``shared_weights`` is False).

A unit's response is computed feed-forward through its fan-in tree: the bottom units read the frame's
blocks, every unit above reads the outputs of the units in its fan-in square, and each applies its
perceptron's first layer, act(W·[signal features, context, 1]), with the model's weights as they are at
the moment the probe is made. What the stimulus does not set is held as it is then: the context inputs
(lateral, feedback and global: the outputs every unit holds now) and each unit's last prediction of its
signal (the error feature). The stimulus is taken as held still, as a frame shown for long: the
previous signal and the integral equal the signal (derivative 0, t−2 block = the signal). The real step
delays each layer by one step and lets context move; the probe is the unit's function of the frame.

The receptive field is the union of the frame blocks under the unit's fan-in tree, from the wiring.
"""

from __future__ import annotations

import torch
from torch import Tensor

from app.models.probing import ProbeLayer, ProbeTarget, ReceptiveField, probe_layer
from app.models.pvm.model import PVM


class PVMProbe:
    shared_weights = False
    resizable = False

    def __init__(self, pvm: PVM):
        self.spec = pvm.spec
        self.wiring = pvm.wiring
        self.size = pvm.spec.frame_size
        self.device = pvm.device
        self._pvm = pvm
        self._layers: dict[int, tuple[Tensor, Tensor, Tensor | None, Tensor | None]] = {}
        self._below: dict[int, frozenset[int]] = {}

    # ---------------------------------------------------------------------------- the weights, held
    def _layer(self, m: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """PVM layer m's signal weights (units, hidden, signal inputs), the rest of its input held as a
        constant (units, hidden), its predictions (units, slots, block) and its signal sources."""
        if m not in self._layers:
            with torch.no_grad():
                self._layers[m] = self._read_layer(m)
        return self._layers[m]

    def _read_layer(self, m: int):
        pvm, starts, spec = self._pvm, self.wiring.layer_starts, self.spec
        units = range(starts[m], starts[m + 1])
        g = next(g for g in pvm.groups if g.start <= units.start < g.start + g.n)
        rows = slice(units.start - g.start, units.stop - g.start)
        w = pvm.input_weights_of(units)
        n = len(units)
        table = pvm.table[:, 0]                                             # stream 0's outputs
        width = table.shape[1]
        context = torch.index_select(table, 0, g.ctx_src[rows].reshape(-1)).view(n, g.contexts, width)[:, :, :-1]
        context = (context * g.ctx_factor[rows]).reshape(n, -1, 1)
        held = torch.bmm(w[:, :, g.signal_width:-1], context).squeeze(2) + w[:, :, -1]
        prediction = g.prediction()[rows, 0].clone() if spec.use_error else None
        sources = None
        if m > 0:
            sources = (g.sig_src[rows] - starts[m - 1]).clone()
        return w[:, :, :g.signal_width].contiguous(), held, prediction, sources

    def snapshot(self) -> PVMProbe:
        for m in range(self.spec.n_layers):
            self._layer(m)
        clone = PVMProbe.__new__(PVMProbe)
        clone.__dict__.update(self.__dict__)
        clone._layers = dict(self._layers)
        clone._pvm = None               # every layer is read: the snapshot no longer needs the model
        return clone

    # ------------------------------------------------------------------------------------ the probe
    def layers(self) -> list[ProbeLayer]:
        shapes, k = self.spec.layer_shapes, self.spec.hidden_block_size
        return [ProbeLayer(str(m + 1), self.spec.hidden_size, (b, b),
                           f"PVM layer {m}: {b}×{b} units of {k}×{k} hidden neurons"
                           + (", reading the frame" if m == 0 else ", reading the layer below"))
                for m, b in enumerate(shapes)]

    def _features(self, x: Tensor, prediction: Tensor | None) -> Tensor:
        """(B, units, slots, block) signals → (B, units, signal inputs), the features of a held signal."""
        spec = self.spec
        features = [x]
        if spec.use_derivative:
            features.append(torch.full_like(x, 0.5))
        if spec.use_integral:
            features.append(x)
        if spec.use_error:
            features.append(x * 0.5 + 0.5 - 0.5 * prediction)
        if spec.use_t_minus_2_block:
            features.append(x)
        return torch.stack(features, dim=3).flatten(2)

    def _activate(self, s: Tensor) -> Tensor:
        if not self.spec.polynomial:
            return torch.sigmoid(s)
        return s / (2 * (s.abs() + 1)) + 0.5

    def responses(self, images: Tensor, layer: str) -> Tensor:
        probe_layer(self, layer)
        top = int(layer) - 1
        spec = self.spec
        b, s = spec.layer_shapes[0], spec.input_block_size
        batch = images.shape[0]
        if tuple(images.shape[1:]) != (3, self.size, self.size):
            raise ValueError(f"a PVM probe reads (B, 3, {self.size}, {self.size}) frames, got {tuple(images.shape)}")
        x = images.to(self.device, torch.float32).view(batch, 3, b, s, b, s).permute(0, 2, 4, 3, 5, 1)
        x = x.reshape(batch, b * b, 1, s * s * 3)
        for m in range(top + 1):
            w, held, prediction, sources = self._layer(m)
            if m > 0:
                x = hidden[:, sources]                      # (B, units, slots, hidden)
            hidden = self._activate(torch.einsum("nhw,bnw->bnh", w, self._features(x, prediction)) + held)
        side = spec.layer_shapes[top]
        return hidden.view(batch, side, side, -1).permute(0, 3, 1, 2)

    def _bottom_units(self, unit: int) -> frozenset[int]:
        """The bottom-layer units under ``unit``'s fan-in tree."""
        if unit not in self._below:
            signals = self.wiring.signals[unit]
            self._below[unit] = frozenset([unit]) if not signals else \
                frozenset().union(*(self._bottom_units(u) for u in signals))
        return self._below[unit]

    def receptive_field(self, target: ProbeTarget) -> ReceptiveField:
        m = int(target.layer) - 1
        b = self.spec.layer_shapes[m]
        row, column = target.position
        unit = self.wiring.layer_starts[m] + row * b + column
        s, b0 = self.spec.input_block_size, self.spec.layer_shapes[0]
        blocks = sorted(((u // b0) * s, (u % b0) * s, (u // b0 + 1) * s, (u % b0 + 1) * s)
                        for u in self._bottom_units(unit))
        return ReceptiveField(min(t for t, _, _, _ in blocks), min(l for _, l, _, _ in blocks),
                              max(bt for _, _, bt, _ in blocks), max(r for _, _, _, r in blocks), tuple(blocks))

    def target_at(self, layer: int, channel: int, row: int, column: int) -> ProbeTarget:
        k = self.spec.hidden_block_size
        return ProbeTarget(str(layer), (row % k) * k + column % k, (row // k, column // k))

    def state_of(self, target: ProbeTarget) -> tuple[int, int, int, int] | None:
        layer = int(target.layer)
        if layer > self.spec.n_layers - 1:          # the top layer feeds no layer: the loop holds no image of it
            return None
        k = self.spec.hidden_block_size
        row, column = target.position
        return layer, 0, row * k + target.unit // k, column * k + target.unit % k

    def compact(self, target: ProbeTarget) -> tuple[int, ProbeTarget, tuple[int, int]]:
        return self.size, target, (0, 0)
