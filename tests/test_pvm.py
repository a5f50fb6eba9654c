import json
import math

import pytest
import torch

from app.errors import UserError
from app.models.pvm.model import PVM
from app.models.pvm.spec import KEYS, PVMSpec, load_spec, spec_from_dict
from app.models.pvm.wiring import FEEDBACK, GLOBAL, LATERAL, build_wiring, count


# ----------------------------------------------------------------------------- a per-unit reference
def poly(s):
    return s / (2 * (s.abs() + 1)) + 0.5


class ReferencePVM:
    """The original's ExecutionUnit, one unit at a time, in float64, with gradients from autograd.

    Weights start as a copy of a PVM's; a unit's input vector is its signal blocks (each followed by
    its derivative, integral, error and t−2 features), its context blocks and a bias, in the order
    of the original; the batched model pads these to the widest unit, which this reference does not.
    """

    def __init__(self, spec: PVMSpec, initial: list[torch.Tensor], w2s: list[torch.Tensor]):
        self.spec, self.wiring = spec, build_wiring(spec)
        self.f = poly if spec.polynomial else torch.sigmoid
        hidden, bottom = spec.hidden_size, self.wiring.layer_starts[1]
        self.units = []
        for u in range(self.wiring.n_units):
            g, i = (0, u) if u < bottom else (1, u - bottom)
            slots = 1 if g == 0 else len(self.wiring.signals[u])
            block = spec.input_block_size ** 2 * 3 if g == 0 else hidden
            used = slots * spec.n_features * block + len(self.wiring.contexts[u]) * hidden
            w1 = initial[g][i].double()
            w1 = torch.cat([w1[:, :used], w1[:, -1:]], 1)
            w2 = w2s[g][i].double()
            inp = torch.zeros(used + 1, dtype=torch.float64)
            inp[-1] = 1
            self.units.append(dict(
                layer=self.wiring.layer_of(u), slots=slots, block=block, w1=w1, w2=w2,
                v1=torch.zeros_like(w1), v2=torch.zeros_like(w2), inp=inp,
                past=torch.zeros(slots, block, dtype=torch.float64),
                integral=torch.zeros(slots, block, dtype=torch.float64),
                prev=dict(inp=inp.clone(), h=torch.zeros(hidden, dtype=torch.float64),
                          o=torch.zeros(w2.shape[0], dtype=torch.float64), w1=w1.clone())))
        self.t = 0
        self.forward()

    def forward(self):
        for unit in self.units:
            unit["w1_used"] = unit["w1"]
            unit["h"] = self.f(unit["w1"] @ unit["inp"])
            unit["o"] = self.f(unit["w2"] @ torch.cat([unit["h"], torch.ones(1, dtype=torch.float64)]))

    def rate(self, layer):
        s, t = self.spec, self.t
        start = layer * s.delay_each_layer_learning
        if t < start:
            return 0.0
        return s.initial_learning_rate if t < start + s.delay_final_learning_rate else s.final_learning_rate

    def signal(self, u, frame):
        unit = self.units[u]
        if u < self.wiring.layer_starts[1]:
            b, s = self.spec.layer_shapes[0], self.spec.input_block_size
            x, y = divmod(u, b)
            return frame[:, x * s:(x + 1) * s, y * s:(y + 1) * s].permute(1, 2, 0).reshape(1, -1).double()
        return torch.stack([self.units[src]["h"] for src in self.wiring.signals[u]])

    def learn(self, unit, x, rate):
        spec, one = self.spec, torch.ones(1, dtype=torch.float64)
        if spec.predict_two_steps:
            # The original trains the activations of the step before, with the current W2.
            prev = unit["prev"]
            target = torch.cat([unit["past"].flatten(), x.flatten()])
            d_out = (target - prev["o"]) * (prev["o"] * (1 - prev["o"]) if not spec.polynomial
                                            else (1 - (2 * prev["o"] - 1).abs()) ** 2 / 2)
            w1 = prev["w1"].clone().requires_grad_()
            w2 = unit["w2"].clone().requires_grad_()
            loss = -(d_out * (w2 @ torch.cat([self.f(w1 @ prev["inp"]), one]))).sum()
        else:
            w1 = unit["w1"].clone().requires_grad_()
            w2 = unit["w2"].clone().requires_grad_()
            out = self.f(w2 @ torch.cat([self.f(w1 @ unit["inp"]), one]))
            loss = 0.5 * ((x.flatten() - out) ** 2).sum()
        loss.backward()
        unit["v1"] = spec.momentum * unit["v1"] - rate * w1.grad
        unit["v2"] = spec.momentum * unit["v2"] - rate * w2.grad
        unit["w1"] = unit["w1"] + unit["v1"]
        unit["w2"] = unit["w2"] + unit["v2"]

    def step(self, frame, lesions=(), dream=None):
        spec = self.spec
        signals = [self.signal(u, frame) for u in range(len(self.units))]
        if dream is not None:
            for unit, x in zip(self.units, signals):
                p = unit["o"][:unit["slots"] * unit["block"]].view(unit["slots"], unit["block"])
                x.mul_(1 - dream[unit["layer"]]).add_(dream[unit["layer"]] * p)
        for unit, x in zip(self.units, signals):
            rate = self.rate(unit["layer"])
            if rate:
                self.learn(unit, x, rate)
        lateral = float(self.t >= spec.enable_lateral_at)
        feedback = float(self.t >= spec.enable_feedback_at)
        factor = {LATERAL: lateral, FEEDBACK: feedback, GLOBAL: feedback}
        for kind in lesions:
            factor[kind] = 0.0
        inputs = []
        for u, (unit, x) in enumerate(zip(self.units, signals)):
            p = unit["o"][:unit["slots"] * unit["block"]].view(unit["slots"], unit["block"])
            features = []
            unit["integral"] = spec.tau * unit["integral"] + (1 - spec.tau) * x
            for k in range(unit["slots"]):
                features.append(x[k])
                if spec.use_derivative:
                    features.append(0.5 * (x[k] - unit["past"][k]) + 0.5)
                if spec.use_integral:
                    features.append(unit["integral"][k])
                if spec.use_error:
                    features.append(0.5 * (x[k] - p[k]) + 0.5)
                if spec.use_t_minus_2_block:
                    features.append(unit["past"][k])
            context = [factor[kind] * self.units[src]["h"] for src, kind in self.wiring.contexts[u]]
            inputs.append(torch.cat(features + context + [torch.ones(1, dtype=torch.float64)]))
        for unit, x, inp in zip(self.units, signals, inputs):
            unit["prev"] = dict(inp=unit["inp"], h=unit["h"], o=unit["o"], w1=unit["w1_used"])
            unit["past"] = x
            unit["inp"] = inp
        self.forward()
        self.t += 1

    def predicted_frame(self):
        b, s = self.spec.layer_shapes[0], self.spec.input_block_size
        image = torch.zeros(b * s, b * s, 3, dtype=torch.float64)
        for u in range(b * b):
            x, y = divmod(u, b)
            image[x * s:(x + 1) * s, y * s:(y + 1) * s] = self.units[u]["o"][:s * s * 3].view(s, s, 3)
        return image


def compare_weights(model: PVM, ref: ReferencePVM, atol: float):
    state, weights = model.state_dict(), model.input_weights()
    bottom = model.wiring.layer_starts[1]
    for u, unit in enumerate(ref.units):
        g, i = (0, u) if u < bottom else (1, u - bottom)
        w1 = weights[g][i]
        used = unit["w1"].shape[1] - 1
        torch.testing.assert_close(w1[:, :used].double(), unit["w1"][:, :-1], atol=atol, rtol=0)
        torch.testing.assert_close(w1[:, -1].double(), unit["w1"][:, -1], atol=atol, rtol=0)
        assert not w1[:, used:-1].any(), "padding weights must stay zero"
        torch.testing.assert_close(state[f"g{g}.w2"][i].double(), unit["w2"], atol=atol, rtol=0)
        torch.testing.assert_close(state[f"g{g}.v2"][i].double(), unit["v2"], atol=atol, rtol=0)
    hidden = state["hidden"][:-1, :-1].double()
    torch.testing.assert_close(hidden, torch.stack([u["h"] for u in ref.units]), atol=atol, rtol=0)


def moving_frames(size: int, n: int, seed: int = 0) -> list[torch.Tensor]:
    """A coloured blob circling over a smooth background: a short clip with real motion."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    background = torch.stack([0.3 + 0.2 * xx, 0.4 + 0.1 * yy, 0.5 - 0.2 * xx * yy])
    colour = torch.rand(3, 1, 1, generator=g)
    frames = []
    for t in range(n):
        cx, cy = 0.5 + 0.3 * math.cos(t * 0.15), 0.5 + 0.3 * math.sin(t * 0.15)
        blob = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.01)
        frames.append((background * (1 - blob) + colour * blob).clamp(0, 1))
    return frames


TEST_SPECS = {
    "one-step": dict(layer_shapes=[6, 5, 4, 2, 1], input_block_size=2, hidden_block_size=2, lateral_radius=1.5,
                     send_context_two_layers_back=True, last_layer_context_to_all=True, initial_learning_rate=0.05,
                     final_learning_rate=0.02, delay_each_layer_learning=2, delay_final_learning_rate=12,
                     enable_lateral_at=3, enable_feedback_at=5),
    "two-step": dict(layer_shapes=[4, 3, 2, 1], input_block_size=2, hidden_block_size=2, lateral_radius=2,
                     context_exclude_self=True, use_derivative=False, use_integral=False, use_t_minus_2_block=True,
                     predict_two_steps=True, polynomial=False, momentum=0.2, initial_learning_rate=0.1,
                     final_learning_rate=0.1, delay_each_layer_learning=0, enable_lateral_at=0, enable_feedback_at=4),
}


@pytest.mark.parametrize("name", TEST_SPECS)
def test_batched_updates_match_a_per_unit_reference(name):
    torch.manual_seed(0)
    spec = PVMSpec(**TEST_SPECS[name])
    model = PVM(spec, seed=3)
    ref = ReferencePVM(spec, model.input_weights(), [g.w2 for g in model.groups])
    steps = model.history + 6                       # past a full turn of the momentum ring
    frames = moving_frames(spec.frame_size, steps)
    flags = {LATERAL: "lateral", FEEDBACK: "feedback", GLOBAL: "global_context"}
    for t, frame in enumerate(frames):
        lesions = {8: [GLOBAL], 9: [GLOBAL], 10: [FEEDBACK], 11: [LATERAL, GLOBAL], 12: [LATERAL]}.get(t, [])
        for kind, flag in flags.items():
            setattr(model, flag, kind not in lesions)
        dream = [0.5, 1.0, 0.0, 0.25, 0.7][:spec.n_layers] if t in (14, 15) else None
        result = model.step(frame, dream=dream)
        ref.step(frame, lesions, dream)
        torch.testing.assert_close(result.predicted_frame.double(), ref.predicted_frame(), atol=1e-5, rtol=0)
        if t in (2, model.history - 1, steps - 1):
            compare_weights(model, ref, atol=1e-5)
    if spec.predict_two_steps:
        assert result.predicted_frame_t2.shape == (spec.frame_size, spec.frame_size, 3)
    # the comparison means something: weights moved well beyond the tolerance
    moved = [(a - b).abs().max() for a, b in zip(model.input_weights(), PVM(spec, seed=3).input_weights())]
    assert moved[0] > 1e-2 and moved[1] > 1e-3


# -------------------------------------------------------------------------------------- streams
def streams_from(singles: list[PVM]) -> PVM:
    """A model of len(singles) streams with the weights of singles[0] and stream b's activity that of singles[b]."""
    multi = PVM(singles[0].spec, streams=len(singles))
    multi.load_state_dict(singles[0].state_dict())
    extra = multi.streams_state()
    for key in [k for k in extra if k.startswith("streams.")]:
        extra[key] = torch.stack([single.state_dict()[key.removeprefix("streams.")] for single in singles[1:]])
    multi.load_streams_state(extra)
    return multi


def apart(spec: PVMSpec, state: dict, frames: list[torch.Tensor], count: int) -> list[PVM]:
    """`count` copies of a model in `state`, each having watched other frames with learning off: the same
    weights and momentum, their own activity."""
    singles = []
    for b in range(count):
        model = PVM(spec)
        model.load_state_dict(state)
        model.learning = False
        for frame in frames[9 * b:9 * b + 6]:
            model.step(frame)
        singles.append(model)
    return singles


@pytest.mark.parametrize("name", TEST_SPECS)
def test_streams_update_by_the_sum_of_their_single_stream_updates(name):
    spec = PVMSpec(**{**TEST_SPECS[name], "enable_lateral_at": 0, "enable_feedback_at": 0})
    rate, count = 0.05, 3
    base = PVM(spec, seed=2)
    base.learning_rate = rate
    frames = moving_frames(spec.frame_size, 80)
    for frame in frames[:base.history + 3]:                 # past a fold of the momentum ring
        before = base.input_weights()
        base.step(frame)
    v1 = [w - b for w, b in zip(base.input_weights(), before)]  # W_t − W_{t−1} = V_t
    singles = apart(spec, base.state_dict(), frames[30:], count)
    multi = streams_from(singles)
    for model in (multi, *singles):
        model.learning, model.learning_rate = True, rate
    w1, w2, v2 = singles[0].input_weights(), [g.w2.clone() for g in base.groups], [g.v2.clone() for g in base.groups]
    batch = torch.stack(frames[60:60 + count])
    together = multi.step(batch)
    alone = [single.step(frame) for single, frame in zip(singles, batch)]
    # a step from (W, V) moves W by μV + g: the streams' step is μV + Σ g
    mu, others = spec.momentum, count - 1
    for k in range(len(multi.groups)):
        moved = multi.input_weights()[k] - w1[k]
        assert moved.abs().max() > 1e-3
        summed = sum(single.input_weights()[k] - w1[k] for single in singles) - others * mu * v1[k]
        torch.testing.assert_close(moved, summed, atol=1e-6, rtol=0)
        moved2 = multi.groups[k].w2 - w2[k]
        summed2 = sum(single.groups[k].w2 - w2[k] for single in singles) - others * mu * v2[k]
        torch.testing.assert_close(moved2, summed2, atol=1e-6, rtol=0)
    # what each stream read and had predicted is its own
    torch.testing.assert_close(together.stream_errors, torch.stack([r.layer_errors for r in alone]), atol=1e-6, rtol=0)
    torch.testing.assert_close(together.layer_errors, together.stream_errors.mean(0))
    assert torch.equal(together.signal[0], batch[0].permute(1, 2, 0))       # its images show stream 0


def test_streams_keep_their_own_activity_and_their_state_round_trips():
    spec = PVMSpec(**{**TEST_SPECS["one-step"], "enable_lateral_at": 0, "enable_feedback_at": 0})
    model, frames = small_trained_model()
    singles = apart(model.spec, model.state_dict(), frames + moving_frames(spec.frame_size, 30, seed=4), 2)
    multi = streams_from(singles)
    multi.learning = False
    clips = [moving_frames(spec.frame_size, 8, seed=s) for s in (5, 6)]
    for t in range(8):
        together = multi.step(torch.stack([clips[0][t], clips[1][t]]))
        alone = [single.step(clip[t]) for single, clip in zip(singles, clips)]
        torch.testing.assert_close(together.stream_errors, torch.stack([r.layer_errors for r in alone]),
                                   atol=1e-6, rtol=0)
    assert (together.stream_errors[0] - together.stream_errors[1]).abs().max() > 1e-3
    for single, key in ((singles[0], "hidden"), (singles[0], "g1.integral")):
        torch.testing.assert_close(multi.state_dict()[key], single.state_dict()[key], atol=1e-6, rtol=0)
    copy = PVM(spec, streams=2)
    copy.load_state_dict(multi.state_dict())
    copy.load_streams_state(multi.streams_state())
    multi.learning = copy.learning = True
    for t in range(3):
        batch = torch.stack([clips[1][t], clips[0][t]])
        assert torch.equal(multi.step(batch).stream_errors, copy.step(batch).stream_errors)
    with pytest.raises(ValueError, match=r"\(2, 3, 12, 12\) float batch of frames"):
        multi.step(clips[0][0])
    with pytest.raises(ValueError, match="streams"):
        PVM(spec, streams=3).load_streams_state(multi.streams_state())


def test_one_stream_exports_of_a_model_of_many_predict_as_its_first_stream():
    model, frames = small_trained_model()
    singles = apart(model.spec, model.state_dict(), frames + moving_frames(model.spec.frame_size, 30, seed=4), 3)
    multi = streams_from(singles)
    for t in range(4):                                    # learning: W1's momentum is no ring any more
        multi.step(torch.stack(frames[t:t + 3]))
    exported = PVM(model.spec)
    exported.load_state_dict(multi.export_state(torch.float32))
    again = PVM(model.spec, streams=2)                    # a shipped (float16) export goes on in streams
    again.load_state_dict(multi.export_state())
    multi.learning = exported.learning = again.learning = False
    for frame in frames[4:8]:
        a, b, c = multi.step(torch.stack([frame] * 3)), exported.step(frame), again.step(torch.stack([frame] * 2))
        torch.testing.assert_close(a.predicted_frame, b.predicted_frame, atol=1e-5, rtol=0)
        torch.testing.assert_close(c.predicted_frame, b.predicted_frame, atol=2e-3, rtol=0)


# --------------------------------------------------------------------------------- wiring, counts
def test_paper_spec_counts_match_the_original_wiring_and_the_docs():
    from app.resources import ROOT
    counts = count(load_spec("pvm-paper"))
    assert counts.units == 350
    assert [layer[0] for layer in counts.per_layer] == [256, 64, 16, 9, 4, 1]
    assert counts.weights == 20_372_477
    assert counts.max_inputs == 1568
    docs = (ROOT / "docs" / "pvm.md").read_text()
    for figure in ("350", "20,372,477", "1,568"):
        assert figure in docs


def test_the_batched_model_holds_exactly_the_counted_weights():
    spec = PVMSpec(**TEST_SPECS["one-step"])
    model = PVM(spec)
    held = sum(int((g.z1 != 0).sum()) + g.w2.numel() for g in model.groups)
    assert held == count(spec).weights


def test_fan_in_overlaps_where_grids_do_not_divide():
    wiring = build_wiring(PVMSpec(layer_shapes=[4, 3, 2, 1], lateral_radius=1, last_layer_context_to_all=True))
    s = wiring.layer_starts
    cell = lambda layer, x, y: s[layer] + x * [4, 3, 2, 1][layer] + y  # noqa: E731
    assert wiring.signals[cell(1, 0, 0)] == (cell(0, 0, 0), cell(0, 0, 1), cell(0, 1, 0), cell(0, 1, 1))
    assert wiring.signals[cell(1, 1, 1)] == (cell(0, 1, 1), cell(0, 1, 2), cell(0, 2, 1), cell(0, 2, 2))
    assert wiring.signals[cell(1, 2, 2)] == (cell(0, 2, 2), cell(0, 2, 3), cell(0, 3, 2), cell(0, 3, 3))
    centre = wiring.contexts[cell(0, 1, 1)]
    assert sum(kind == FEEDBACK for _, kind in centre) == 4       # read by four overlapping squares
    assert {src for src, kind in centre if kind == LATERAL} == {
        cell(0, 1, 1), cell(0, 0, 1), cell(0, 2, 1), cell(0, 1, 0), cell(0, 1, 2)}
    assert wiring.signals[cell(3, 0, 0)] == tuple(cell(2, x, y) for x in (0, 1) for y in (0, 1))
    # the layer below the top hears the top unit as feedback and again as global context
    assert wiring.contexts[cell(2, 0, 0)][-2:] == ((cell(3, 0, 0), FEEDBACK), (cell(3, 0, 0), GLOBAL))
    assert all(kind != GLOBAL for _, kind in wiring.contexts[cell(3, 0, 0)])


# ---------------------------------------------------------------------------------------- specs
def test_shipped_specs_load():
    sizes = {name: load_spec(name).frame_size for name in ("pvm-paper", "pvm-small", "pvm-large")}
    assert sizes["pvm-paper"] == 80 and sizes["pvm-large"] == 120
    assert load_spec("pvm-large").layer_shapes == [24, 20, 16, 12, 8, 6, 4, 2, 1]


def test_spec_accepts_the_originals_string_values():
    spec = spec_from_dict({"layer_shapes": ["16", "8", "4", "3", "2", "1"], "use_error": "1",
                           "predict_two_steps": "0", "momentum": "0.5", "enable_lateral_at": "700000"})
    assert spec == PVMSpec()


@pytest.mark.parametrize("data, message", [
    ({"readout_block_size": [1, 2]}, "unknown key 'readout_block_size' (allowed: layer_shapes,"),
    ({"momentum": 1.5}, "momentum must be a number in [0, 0.9], got 1.5"),
    ({"use_error": "yes"}, "use_error must be true or false"),
    ({"layer_shapes": [16, 0]}, "layer_shapes must be a non-empty list"),
    ({"layer_shapes": "16"}, "layer_shapes must be a list of whole numbers"),
    ({"input_block_size": 2.5}, "input_block_size must be a whole number"),
    ({"tau": "fast"}, "tau must be a number"),
    ({"initial_learning_rate": 0}, "initial_learning_rate must be a positive number"),
    ({"fan_in_radius": 0.5}, "fan_in_radius must be large enough"),
    ({"layer_shapes": [4, 3, 2, 1], "send_context_two_layers_back": True},
     "send_context_two_layers_back must be false"),
])
def test_bad_specs_fail_with_one_line(data, message):
    with pytest.raises(UserError) as e:
        spec_from_dict(data, origin="PVM spec x.json")
    assert message in str(e.value) and str(e.value).startswith("PVM spec x.json: ")
    assert "\n" not in str(e.value)


def test_spec_files_by_name_or_path(tmp_path):
    with pytest.raises(UserError, match="no PVM spec 'pvm-nope'; pass a spec name .*pvm-paper"):
        load_spec("pvm-nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{ layer_shapes: [16] }")
    with pytest.raises(UserError, match="is not valid JSON"):
        load_spec(bad)
    good = tmp_path / "mine.json"
    good.write_text(json.dumps({"layer_shapes": [4, 2, 1], "hidden_block_size": 3}))
    assert load_spec(str(good)).hidden_size == 9
    assert set(KEYS) == set(PVMSpec().to_dict())


# ----------------------------------------------------------------------------- running the model
def small_trained_model(steps: int = 30) -> tuple[PVM, list[torch.Tensor]]:
    spec = PVMSpec(**{**TEST_SPECS["one-step"], "enable_lateral_at": 0, "enable_feedback_at": 0})
    model = PVM(spec, seed=1)
    frames = moving_frames(spec.frame_size, steps + 10)
    for frame in frames[:steps]:
        model.step(frame)
    return model, frames[steps:]


@pytest.mark.parametrize("flag", ["lateral", "feedback", "global_context"])
def test_lesions_zero_one_kind_of_context_keep_weights_and_are_reversible(flag):
    model, frames = small_trained_model()
    model.learning = False
    before = model.state_dict()
    intact = [model.step(f).predicted_frame for f in frames[:3]]
    model.load_state_dict(before)
    setattr(model, flag, False)
    lesioned = [model.step(f).predicted_frame for f in frames[:3]]
    assert not torch.allclose(intact[-1], lesioned[-1], atol=1e-4)
    after = model.state_dict()
    for key in before:
        if key.endswith(("z1", "w2", "v2", "ring_x", "ring_d")):
            assert torch.equal(before[key], after[key]), key
    model.load_state_dict(before)
    setattr(model, flag, True)
    restored = [model.step(f).predicted_frame for f in frames[:3]]
    for a, b in zip(intact, restored):
        assert torch.equal(a, b)


def test_learning_on_a_moving_blob_lowers_the_prediction_error():
    spec = load_spec("pvm-small")
    model = PVM(spec, seed=0)
    frames = moving_frames(spec.frame_size, 42)              # one circle takes 42 frames
    errors = [model.step(frames[t % len(frames)]).frame_error for t in range(400)]
    first, last = sum(errors[:40]) / 40, sum(errors[-40:]) / 40
    assert last < 0.5 * first
    frozen = PVM(spec, seed=0)
    frozen.learning = False
    still = [frozen.step(frames[t % len(frames)]).frame_error for t in range(400)]
    assert last < 0.5 * sum(still[-40:]) / 40


def test_dream_feeds_each_layer_its_own_prediction():
    model, frames = small_trained_model()
    previous = model.step(frames[0])
    result = model.step(frames[1], dream=[1.0, 0.0, 1.0, 0.0, 0.0])
    torch.testing.assert_close(result.signal[0], previous.predicted_frame)
    torch.testing.assert_close(result.signal[2], previous.next_prediction[2])
    torch.testing.assert_close(result.signal[1], previous.hidden[0])
    torch.testing.assert_close(result.error[0], torch.zeros_like(result.error[0]))


def test_layer_inputs_replace_what_a_layer_reads():
    model, frames = small_trained_model()
    shape = model.step(frames[0]).hidden[1].shape
    image = torch.rand(shape)
    result = model.step(frames[1], layer_inputs={2: image})
    torch.testing.assert_close(result.signal[2], image)
    with pytest.raises(ValueError, match="layer_inputs"):
        model.step(frames[2], layer_inputs={0: image})


def test_a_mix_that_gives_layers_what_they_would_read_changes_nothing():
    """The mix goes in through static buffers (what a captured step reads): handed the states a layer
    reads anyway, a step is the plain step, bit for bit, learning included."""
    model, frames = small_trained_model()
    plain = PVM(model.spec)
    plain.load_state_dict(model.state_dict())
    last = model.step(frames[0])
    plain.step(frames[0])
    for frame in frames[1:6]:
        mixed = model.step(frame, layer_inputs={layer: last.hidden[layer - 1]
                                                for layer in range(1, model.spec.n_layers)})
        last = plain.step(frame)
        assert torch.equal(mixed.predicted_frame, last.predicted_frame)
        assert all(torch.equal(a, b) for a, b in zip(mixed.hidden, last.hidden))
    assert all(torch.equal(a, b) for a, b in zip(model.input_weights(), plain.input_weights()))


def test_step_result_images_have_the_documented_shapes():
    spec = PVMSpec(**TEST_SPECS["two-step"])
    result = PVM(spec).step(torch.rand(3, spec.frame_size, spec.frame_size))
    b, k = spec.layer_shapes, spec.hidden_block_size
    assert result.signal[0].shape == result.predicted_frame.shape == result.predicted_frame_t2.shape == (8, 8, 3)
    assert [h.shape for h in result.hidden] == [(n * k, n * k, 1) for n in b]
    assert [s.shape for s in result.signal[1:]] == [h.shape for h in result.hidden[:-1]]
    assert result.layer_errors.shape == (len(b),)


def test_saved_state_resumes_exactly(tmp_path):
    from app.models.checkpoint import load, save
    model, frames = small_trained_model(steps=model_history_plus(3))
    path = save(model, tmp_path / "p.safetensors", {"description": "test"})
    loaded = load(str(path)).model
    assert loaded.steps == model.steps
    for frame in frames:
        a, b = model.step(frame), loaded.step(frame)
        assert torch.equal(a.predicted_frame, b.predicted_frame)
    for a, b in zip(model.input_weights(), loaded.input_weights()):
        assert torch.equal(a, b)


def test_export_keeps_the_weights_in_half_the_size_and_goes_on_learning(tmp_path):
    from app.models.checkpoint import load, save
    model, frames = small_trained_model(steps=model_history_plus(3))
    full = save(model, tmp_path / "full.safetensors", {"description": "test"})
    shipped = save(model, tmp_path / "shipped.safetensors", {"description": "test"}, export=True)
    assert shipped.stat().st_size < 0.5 * full.stat().st_size
    loaded = load(str(shipped)).model
    assert loaded.steps == model.steps
    for a, b in zip(model.input_weights(), loaded.input_weights()):
        assert torch.allclose(a, b, atol=1e-3)
    model.learning = loaded.learning = False
    for frame in frames:
        a, b = model.step(frame), loaded.step(frame)
        assert torch.allclose(a.predicted_frame, b.predicted_frame, atol=2e-3)
    loaded.learning = True
    before = [w.clone() for w in loaded.input_weights()]
    for frame in frames:
        loaded.step(frame)
    assert any(not torch.equal(a, b) for a, b in zip(before, loaded.input_weights()))


def model_history_plus(n: int) -> int:
    return PVM(PVMSpec(**TEST_SPECS["one-step"])).history + n


# ------------------------------------------------------------------------------------- training
def test_train_command_snapshots_resumes_and_exports(tmp_path):
    from conftest import run_cli
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps({**TEST_SPECS["one-step"], "initial_learning_rate": 0.05}))
    dirs = ["--models-dir", str(tmp_path / "models"), "--runs-dir", str(tmp_path / "runs"), "--device", "cpu"]
    first = run_cli("train", "pvm", "--spec", str(spec), "--source", "sample", "--steps", "300",
                    "--snapshot-every", "200", "--name", "tiny", *dirs)
    assert first.returncode == 0, first.stderr
    assert "step" in first.stderr and "error=" in first.stderr          # the progress bar
    run = tmp_path / "runs" / "tiny"
    assert (run / "error.png").stat().st_size > 1000
    assert len(json.loads((run / "curve.json").read_text())) == 3
    again = run_cli("train", "pvm", "--resume", str(run / "state.safetensors"), "--source", "sample",
                    "--steps", "100", "--name", "tiny", *dirs)
    assert again.returncode == 0, again.stderr
    card = json.loads((tmp_path / "models" / "tiny.json").read_text())
    assert card["steps"] == 400 and card["spec"] == "tiny" and card["architecture"]["kind"] == "pvm"
    assert card["command"].startswith("hypnagogia train pvm --source sample --steps 100")
    assert len(card["final_error"]) == 5 and 0 < card["final_error"][0] < 0.5
    curve = json.loads((run / "curve.json").read_text())
    assert [row[0] for row in curve] == [100, 200, 300, 400]


def test_train_command_rejects_bad_input_in_one_line(tmp_path, capsys):
    from app.commands.main import main
    for args, message in ((["--spec", "pvm-nope"], "no PVM spec 'pvm-nope'"),
                          ([], "needs --spec"),
                          (["--resume", str(tmp_path / "none.safetensors")], "not found"),
                          (["--spec", "pvm-small", "--name", "a/b"], "--name 'a/b'")):
        assert main(["train", "pvm", *args, "--steps", "1", "--runs-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_train_command_with_streams_resumes_bit_for_bit_and_counts_frames(tmp_path):
    from conftest import run_cli
    from safetensors.torch import load_file
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps({**TEST_SPECS["one-step"], "initial_learning_rate": 0.05}))
    dirs = ["--models-dir", str(tmp_path / "models"), "--runs-dir", str(tmp_path / "runs"), "--device", "cpu",
            "--source", "sample", "--snapshot-every", "100"]
    whole = run_cli("train", "pvm", "--spec", str(spec), "--steps", "300", "--streams", "3", "--name", "whole", *dirs)
    assert whole.returncode == 0, whole.stderr
    first = run_cli("train", "pvm", "--spec", str(spec), "--steps", "200", "--streams", "3", "--name", "part", *dirs)
    assert first.returncode == 0, first.stderr
    state = tmp_path / "runs" / "part" / "state.safetensors"
    wrong = run_cli("train", "pvm", "--resume", str(state), "--steps", "100", "--streams", "2", "--name", "part", *dirs)
    assert wrong.returncode == 2 and "has 3 streams" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    again = run_cli("train", "pvm", "--resume", str(state), "--steps", "100", "--name", "part", *dirs)
    assert again.returncode == 0, again.stderr
    for path in ("models/{}.safetensors", "runs/{}/state.safetensors", "runs/{}/state.streams.safetensors"):
        a, b = (load_file(tmp_path / path.format(name)) for name in ("whole", "part"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), path
    card = json.loads((tmp_path / "models" / "part.json").read_text())
    assert card["steps"] == 300 and card["streams"] == 3 and card["frames_seen"] == 900
    assert [(s["steps"], s["streams"], s["frames"]) for s in card["segments"]] == [([0, 200], 3, 600),
                                                                                 ([200, 300], 3, 300)]
    assert "sum of the B per-stream updates" in card["streams_are"]
    # an export of the streams' run goes on as one stream, its card keeping the count
    single = run_cli("train", "pvm", "--resume", str(tmp_path / "models" / "part.safetensors"), "--steps", "100",
                     "--name", "single", *dirs)
    assert single.returncode == 0, single.stderr
    card = json.loads((tmp_path / "models" / "single.json").read_text())
    assert card["streams"] == 1 and card["frames_seen"] == 1000 and len(card["segments"]) == 3
    assert not (tmp_path / "runs" / "single" / "state.streams.safetensors").exists()


def test_streams_need_a_video_in_memory_in_one_line(tmp_path):
    from conftest import run_cli
    result = run_cli("train", "pvm", "--spec", "pvm-small", "--source", "noise", "--streams", "2", "--steps", "1",
                     "--runs-dir", str(tmp_path), "--models-dir", str(tmp_path), "--device", "cpu")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "--streams 2 reads a video file" in lines[0], result.stderr


def test_the_path_a_cuda_graph_records_steps_as_the_eager_one(monkeypatch):
    """What a captured step runs (the device's ring slot, the mix from static buffers, the shown images
    after the record, split again), run eagerly on the CPU against the plain eager step."""
    spec = PVMSpec(**{**TEST_SPECS["two-step"], "enable_feedback_at": 0})
    eager, graphed = PVM(spec, seed=4), PVM(spec, seed=4)
    monkeypatch.setattr(graphed, "_replay", graphed._captured)
    monkeypatch.setattr(PVM, "_graphed", property(lambda self: self is graphed))
    frames = moving_frames(spec.frame_size, eager.history + 8)
    g = torch.Generator().manual_seed(0)
    for t, frame in enumerate(frames):
        sides = {layer: spec.layer_shapes[layer - 1] * spec.hidden_block_size for layer in (1, 2)}
        mix = {layer: torch.rand(side, side, generator=g) for layer, side in sides.items()} if t % 3 else None
        dream = [0.3] * spec.n_layers if t % 5 == 4 else None
        a = eager.step(frame, dream=dream, layer_inputs=mix)
        b = graphed.step(frame, dream=dream, layer_inputs=mix, images=True)
        assert "hidden" in b.__dict__ and "hidden" not in a.__dict__           # computed by the step
        for name in ("prediction", "next_prediction", "hidden"):
            assert all(torch.equal(x, y) for x, y in zip(getattr(a, name), getattr(b, name))), name
        assert torch.equal(a.predicted_frame, b.predicted_frame) and torch.equal(a.predicted_frame_t2, b.predicted_frame_t2)
        assert torch.equal(a.layer_errors, b.layer_errors)
    assert all(torch.equal(x, y) for x, y in zip(eager.input_weights(), graphed.input_weights()))
    assert int(graphed.slot) == graphed._slot
