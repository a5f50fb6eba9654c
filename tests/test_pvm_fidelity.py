"""The spec options that run the PVM as the original's code runs it (braincorp/PVM's ``PVM_Create.py``,
the CUDA rewrite ``PVM_cuda``), and the dream fed back late as the original's manager feeds it.

The original's connectivity is computed here by small transcriptions of its code, written from the
original source line by line (loops, append order and integer truncation kept), independently of
``app.models.pvm.wiring``."""

import json

import pytest
import torch

from app.errors import UserError
from app.experiments.pvm_dreams import ReplayConfig, StaticDreamConfig, run_replay, run_static_dream
from app.models.checkpoint import save
from app.models.pvm.dreamer import FrameFeed, PVMDreamer
from app.models.pvm.model import PVM
from app.models.pvm.spec import PVMSpec, load_spec
from app.models.pvm.wiring import FEEDBACK, GLOBAL, LATERAL, build_wiring, count
from test_pvm import TEST_SPECS, ReferencePVM, moving_frames


# ------------------------------------------------------------ transcriptions of the original's wiring
def get_surround(xy, dim_x, dim_y, radius, exclude_self):
    laterals = []
    for dx in range(-int(radius), int(radius) + 1, 1):
        for dy in range(-int(radius), int(radius) + 1, 1):
            if dx ** 2 + dy ** 2 > radius ** 2:
                continue
            if (xy[0] + dx >= 0) and (xy[0] + dx < dim_x) and (xy[1] + dy >= 0) and (xy[1] + dy < dim_y):
                if not (exclude_self and dx == 0 and dy == 0):
                    laterals.append((xy[0] + dx, xy[1] + dy))
    return laterals


def get_fan_in(xy, dim_x_l, dim_y_l, dim_x_u, dim_y_u, block_x, block_y, radius):
    x, y = xy
    factor_x = ((dim_x_l - 1) - (block_x - 1)) / (1.0 * (dim_x_u - 1)) if dim_x_u > 1 else 0
    factor_y = ((dim_y_l - 1) - (block_y - 1)) / (1.0 * (dim_y_u - 1)) if dim_y_u > 1 else 0
    results = []
    for xx in range(block_x):
        for yy in range(block_y):
            if (xx - (block_x - 1) * 0.5) ** 2 + (yy - (block_y - 1) * 0.5) ** 2 > radius ** 2:
                continue
            fx = int((factor_x * x) + xx) if dim_x_u > 1 else int((dim_x_l - block_x) / 2.0 + xx)
            fy = int((factor_y * y) + yy) if dim_y_u > 1 else int((dim_y_l - block_y) / 2.0 + yy)
            results.append((fx, fy))
    return results


def braincorp_wiring(spec: PVMSpec) -> tuple[list[list[int]], list[list[int]]]:
    """(signal sources, context sources) per unit, in the order ``PVM_Create.generate_v1`` appends them."""
    shapes, sq, radius = spec.layer_shapes, spec.fan_in_square_size, int(spec.fan_in_radius)
    base = [0]
    for b in shapes:
        base.append(base[-1] + b * b)
    signals, contexts = [[] for _ in range(base[-1])], [[] for _ in range(base[-1])]

    def gather_surround(index0, b):
        for x in range(b):
            for y in range(b):
                dest = index0 + x * b + y
                for xy in get_surround((x, y), b, b, spec.lateral_radius, spec.context_exclude_self):
                    contexts[dest].append(xy[0] * b + xy[1])            # the original adds no index0 here

    def connect_forward_and_back(index0, b0, index1, b1):
        for x in range(b1):
            for y in range(b1):
                dest = index1 + x * b1 + y
                for xy in get_fan_in((x, y), b0, b0, b1, b1, sq, sq, radius):
                    source = index0 + xy[0] * b0 + xy[1]
                    contexts[source].append(dest)
                    signals[dest].append(source)

    def connect_back(index_from, b_from, index_to, b_to):
        for x in range(b_from):
            for y in range(b_from):
                source = index_from + x * b_from + y
                for xy in get_fan_in((x, y), b_to, b_to, b_from, b_from, 2 * sq, 2 * sq, 2 * radius):
                    contexts[index_to + xy[0] * b_to + xy[1]].append(source)

    gather_surround(base[0], shapes[0])
    for layer in range(1, len(shapes)):
        connect_forward_and_back(base[layer - 1], shapes[layer - 1], base[layer], shapes[layer])
        gather_surround(base[layer], shapes[layer])
        if spec.send_context_two_layers_back and layer > 1:
            connect_back(base[layer], shapes[layer], base[layer - 2], shapes[layer - 2])
    if spec.last_layer_context_to_all:
        for to_idx in range(base[len(shapes) - 1]):
            for from_idx in range(base[len(shapes) - 1], base[-1]):
                contexts[to_idx].append(from_idx)
    return signals, contexts


def pvm_cuda_wiring(spec: PVMSpec) -> tuple[list[list[int]], list[list[int]]]:
    """(primary sources, context sources) per unit as ``PVM_cuda``'s ``PVM_object.generate_graph`` builds them."""
    shapes, graph = spec.layer_shapes, []
    for layer, b in enumerate(shapes):
        for x in range(b):
            for y in range(b):
                graph.append(dict(id=len(graph), layer=layer, grid_pos=(x, y), primary_destinations=[],
                                  context_destinations=[], primary_sources=[], context_sources=[]))
    by_layer = [[block for block in graph if block["layer"] == layer] for layer in range(len(shapes))]
    for block in graph:
        b = shapes[block["layer"]]
        sur = get_surround(block["grid_pos"], b, b, int(spec.lateral_radius), spec.context_exclude_self)
        for sublock in by_layer[block["layer"]]:
            if sublock["grid_pos"] in sur:
                sublock["context_destinations"].append(block["id"])
                block["context_sources"].append(sublock["id"])
        if block["layer"] > 0:
            below = shapes[block["layer"] - 1]
            fan_in = get_fan_in(block["grid_pos"], below, below, b, b, spec.fan_in_square_size,
                                spec.fan_in_square_size, float(spec.fan_in_radius))
            for sublock in by_layer[block["layer"] - 1]:
                if sublock["grid_pos"] in fan_in:
                    sublock["primary_destinations"].append(block["id"])
                    block["primary_sources"].append(sublock["id"])
    for block in graph:
        for dest in block["primary_destinations"]:
            graph[dest]["context_destinations"].append(block["id"])
            block["context_sources"].append(dest)
    if spec.send_context_two_layers_back:
        for block in graph:
            for dest in block["primary_destinations"]:
                for dest1 in graph[dest]["primary_destinations"]:
                    graph[dest1]["context_destinations"].append(block["id"])
                    block["context_sources"].append(dest1)
    if spec.last_layer_context_to_all:
        for block in by_layer[-1]:
            for ublock in graph:
                if ublock["id"] not in block["context_destinations"]:
                    block["context_destinations"].append(ublock["id"])
                    ublock["context_sources"].append(block["id"])
    return [b["primary_sources"] for b in graph], [b["context_sources"] for b in graph]


def sources(wiring) -> list[list[int]]:
    return [[s for s, _ in unit] for unit in wiring.contexts]


def lateral_sources(wiring) -> list[list[int]]:
    return [[s for s, kind in unit if kind == LATERAL] for unit in wiring.contexts]


# --------------------------------------------------------------------------------- upper lateral
def test_the_original_upper_lateral_flag_gives_the_originals_context_unit_by_unit():
    paper = load_spec("pvm-paper")
    assert paper.original_upper_lateral is False                        # the default: as the paper describes
    signals, contexts = braincorp_wiring(paper)
    ours, original = build_wiring(paper), build_wiring(PVMSpec(**{**paper.to_dict(), "original_upper_lateral": True}))
    assert [list(s) for s in original.signals] == signals
    assert sources(original) == contexts                                # every source, in the original's order
    differ = [u for u in range(ours.n_units) if lateral_sources(ours)[u] != lateral_sources(original)[u]]
    assert differ == list(range(256, 350))                              # the 94 units above the bottom layer
    assert all(src < 256 for u in differ for src in lateral_sources(original)[u])    # they hear bottom units
    assert count(paper) == count(PVMSpec(**{**paper.to_dict(), "original_upper_lateral": True}))
    # with context from two layers up over grids that do not divide
    large = PVMSpec(**{**load_spec("pvm-large-2016").to_dict(), "original_upper_lateral": True})
    assert sources(build_wiring(large)) == braincorp_wiring(large)[1]


def test_the_original_upper_lateral_context_reaches_the_model():
    spec = PVMSpec(**{**TEST_SPECS["one-step"], "original_upper_lateral": True})
    model = PVM(spec)
    wiring = build_wiring(spec)
    upper = model.groups[1]
    unit = wiring.layer_starts[2]                                       # the first unit of layer 2
    expected = [s for s, kind in wiring.contexts[unit] if kind == LATERAL]
    row = unit - upper.start
    assert upper.ctx_src[row, :len(expected)].tolist() == expected and max(expected) < wiring.layer_starts[1]


# ------------------------------------------------------------------------------ PVM_cuda's wiring
def test_pvm_cuda_wiring_gives_pvm_cudas_context_and_weight_count_for_large():
    spec = load_spec("pvm-large")
    primary, contexts = pvm_cuda_wiring(spec)
    wiring = build_wiring(spec)
    assert [list(s) for s in wiring.signals] == primary and sources(wiring) == contexts
    # PVM_cuda's total_weights: inputs t and t−1 of every source and the context, outputs t+1 and t+2
    hidden, block = spec.hidden_size, spec.input_block_size ** 2 * 3
    total = 0
    for u, (srcs, ctx) in enumerate(zip(primary, contexts)):
        out = 2 * block if u < spec.layer_shapes[0] ** 2 else 2 * hidden * len(srcs)
        total += (out + hidden * len(ctx) + 1) * hidden + (hidden + 1) * out
    assert count(spec).weights == total == 119_129_058
    # braincorp's wiring of the same keys hears other units two layers up and the top unit twice
    braincorp = build_wiring(PVMSpec(**{**spec.to_dict(), "pvm_cuda_wiring": False}))
    assert sum(a != b for a, b in zip(sources(braincorp), contexts)) > 1000
    top = wiring.n_units - 1
    below_top = wiring.layer_starts[-3]
    assert [kind for s, kind in wiring.contexts[below_top] if s == top] == [FEEDBACK]
    assert [kind for s, kind in braincorp.contexts[below_top] if s == top] == [FEEDBACK, GLOBAL]


def test_pvm_cuda_wiring_on_a_small_grid_two_layers_up_once_per_path():
    spec = PVMSpec(layer_shapes=[4, 3, 2, 1], lateral_radius=1.7, send_context_two_layers_back=True,
                   context_exclude_self=True, pvm_cuda_wiring=True)
    assert sources(build_wiring(spec)) == pvm_cuda_wiring(spec)[1]
    centre = build_wiring(spec).contexts[5]                              # unit (1, 1) of the 4×4 layer
    twice = [s for s, _ in centre if [t for t, _ in centre].count(s) > 1]
    assert twice                                                         # reached along two paths
    with pytest.raises(UserError, match="original_upper_lateral must be false with pvm_cuda_wiring"):
        PVMSpec(original_upper_lateral=True, pvm_cuda_wiring=True)


# ---------------------------------------------------------------------- PVM_cuda's unit and rates
CUDA_TINY = dict(layer_shapes=[4, 3, 2, 1], input_block_size=2, hidden_block_size=2, lateral_radius=2,
                 send_context_two_layers_back=True, use_derivative=False, use_integral=False, use_error=False,
                 use_t_minus_2_block=True, predict_two_steps=True, momentum=0.2, initial_learning_rate=0.3,
                 final_learning_rate=0.02, intermediate_learning_rate=0.1, delay_each_layer_learning=1,
                 delay_final_learning_rate=14, delay_intermediate_learning_rate=14, rates_switch_together=True,
                 enable_lateral_at=0, enable_feedback_at=0, pvm_cuda_wiring=True, weight_init_range=0.015,
                 compress_hidden_copies=True, compress_frame=True)


class CompressedReference(ReferencePVM):
    """The per-unit reference, reading other units' outputs and the frame as 0.8·x + 0.1 (PVM_cuda's
    copies), on the spec's schedule."""

    def forward(self):
        one = torch.ones(1, dtype=torch.float64)
        for unit in self.units:
            unit["w1_used"] = unit["w1"]
            unit["raw"] = self.f(unit["w1"] @ unit["inp"])
            unit["o"] = self.f(unit["w2"] @ torch.cat([unit["raw"], one]))
            unit["h"] = 0.8 * unit["raw"] + 0.1                          # what the other units read

    def signal(self, u, frame):
        x = super().signal(u, frame)
        return 0.8 * x + 0.1 if u < self.wiring.layer_starts[1] else x

    def rate(self, layer):
        return self.spec.learning_rate(layer, self.t)


def test_pvm_cuda_options_step_as_a_per_unit_reference():
    spec = PVMSpec(**CUDA_TINY)
    model = PVM(spec, seed=5)
    ref = CompressedReference(spec, model.input_weights(), [g.w2 for g in model.groups])
    frames = moving_frames(spec.frame_size, model.history + 6)
    for frame in frames:
        result = model.step(frame)
        ref.step(frame)
        torch.testing.assert_close(result.predicted_frame.double(), ((ref.predicted_frame() - 0.1) / 0.8).clamp(0, 1),
                                   atol=1e-5, rtol=0)
    weights, bottom = model.input_weights(), model.wiring.layer_starts[1]
    for u, unit in enumerate(ref.units):
        g, i = (0, u) if u < bottom else (1, u - bottom)
        used = unit["w1"].shape[1] - 1
        torch.testing.assert_close(weights[g][i][:, :used].double(), unit["w1"][:, :-1], atol=1e-5, rtol=0)
        torch.testing.assert_close(model.groups[g].w2[i].double(), unit["w2"], atol=1e-5, rtol=0)
    hidden = model.state_dict()["hidden"][:-1, :-1].double()
    torch.testing.assert_close(hidden, torch.stack([u["raw"] for u in ref.units]), atol=1e-5, rtol=0)
    fresh = PVM(spec, seed=5).input_weights()
    assert max((a - b).abs().max() for a, b in zip(weights, fresh)) > 1e-3     # it learned past the tolerance


def test_weight_init_range_sets_every_weight_and_bias_uniform_in_it():
    spec = PVMSpec(**CUDA_TINY)
    for g, w1 in zip(PVM(spec).groups, PVM(spec).input_weights()):
        assert w1.abs().max() <= 0.015 and g.w2.abs().max() <= 0.015
        assert w1.abs().max() > 0.0149 and g.w2.abs().max() > 0.014 and w1[:, :, -1].abs().max() > 0.01
    default = PVM(PVMSpec(**{**CUDA_TINY, "weight_init_range": 0})).input_weights()
    assert min(w.abs().max() for w in default) > 0.1                      # ±1/√fan-in of a few dozen inputs
    with pytest.raises(UserError, match="weight_init_range must be a number in"):
        PVMSpec(weight_init_range=2)


def test_compressed_copies_reach_the_units_and_lesions_still_zero_them():
    spec = PVMSpec(**CUDA_TINY)
    model = PVM(spec, seed=1)
    frames = moving_frames(spec.frame_size, 8)
    for frame in frames[:6]:
        model.step(frame)
    states = model.table[:, 0].clone()                                     # what the next step reads
    model.lateral = False
    result = model.step(frames[6])
    upper, wiring = model.groups[1], model.wiring
    features = upper.inp[:, 0, :upper.signal_width].view(upper.n, upper.slots, spec.n_features, upper.block)
    below = states[upper.sig_src.view(-1), :-1].view(upper.n, upper.slots, -1)
    torch.testing.assert_close(features[:, :, 0], 0.8 * below + 0.1)
    context = upper.inp[:, 0, upper.signal_width:-1].view(upper.n, upper.contexts, -1)
    for i in range(upper.n):
        kinds = dict(enumerate(wiring.contexts[upper.start + i]))
        for c in range(upper.contexts):
            source, kind = kinds.get(c, (None, 0))
            expected = 0.8 * states[source, :-1] + 0.1 if kind in (FEEDBACK, GLOBAL) else torch.zeros(spec.hidden_size)
            torch.testing.assert_close(context[i, c], expected)             # lateral lesioned, padding: zero
    bottom = model.groups[0].inp[:, 0, :spec.input_block_size ** 2 * 3]
    blocks = frames[6].view(3, 4, 2, 4, 2).permute(1, 3, 2, 4, 0).reshape(16, 12)
    torch.testing.assert_close(bottom, 0.8 * blocks + 0.1)
    # the images and errors are in the frame's and the states' own units (layers 0 and 3 read no
    # overlapping squares, whose images show means)
    torch.testing.assert_close(result.signal[0], frames[6].permute(1, 2, 0), atol=1e-6, rtol=0)
    lo, hi = wiring.layer_starts[2:4]
    torch.testing.assert_close(result.signal[3], model.hidden_image(states[lo:hi, :-1], 2), atol=1e-6, rtol=0)
    for layer in (0, 3):
        torch.testing.assert_close(result.layer_errors[layer], result.error[layer].mean(), atol=1e-6, rtol=0)


def test_the_rate_switches_at_its_step_for_every_layer_at_once():
    large = load_spec("pvm-large")
    rates = {(layer, step): large.learning_rate(layer, step) for layer in (0, 8)
             for step in (0, 79_999, 80_000, 999_999, 1_000_000, 1_079_999, 1_080_000, 10 ** 8)}
    assert rates[0, 0] == rates[0, 999_999] == rates[8, 80_000] == rates[8, 999_999] == 0.005
    assert rates[8, 79_999] == 0.0
    assert {rates[layer, step] for layer in (0, 8) for step in (1_000_000, 1_080_000, 10 ** 8)} == {0.001}
    # from each layer's start (braincorp/PVM's schedule), and with the intermediate before the final
    apart = PVMSpec(**{**large.to_dict(), "rates_switch_together": False})
    assert apart.learning_rate(8, 1_000_000) == 0.005 and apart.learning_rate(8, 1_080_000) == 0.001
    three = PVMSpec(initial_learning_rate=0.3, intermediate_learning_rate=0.2, delay_intermediate_learning_rate=5,
                    final_learning_rate=0.1, delay_final_learning_rate=10, delay_each_layer_learning=0)
    assert [three.learning_rate(0, t) for t in (4, 5, 9, 10)] == [0.3, 0.2, 0.2, 0.1]
    assert PVMSpec().learning_rate(1, 200_000) == 0.00001                # no intermediate: as before
    # the model learns at the switched rate from that step: as a copy told that rate outright
    spec = PVMSpec(**CUDA_TINY)
    model = PVM(spec, seed=2)
    frames = moving_frames(spec.frame_size, 20)
    for frame in frames[:14]:
        model.step(frame)
    assert model.learning_rates() == [0.1] * 4 and model.steps == spec.delay_final_learning_rate
    told = PVM(spec)
    told.load_state_dict(model.state_dict())
    told.learning_rate = 0.1
    assert torch.equal(model.step(frames[14]).predicted_frame, told.step(frames[14]).predicted_frame)
    earlier = PVM(spec)
    earlier.load_state_dict(model.state_dict())
    earlier.learning_rate = 0.3
    assert not torch.equal(earlier.step(frames[15]).predicted_frame, model.step(frames[15]).predicted_frame)


def test_large_predicts_two_steps_from_t_and_t_minus_1():
    spec = PVMSpec(**CUDA_TINY)
    model = PVM(spec)
    assert spec.n_features == 2                                          # the signal at t and at t − 1
    for g in model.groups:
        assert g.outputs == 2 * g.slots * g.block                        # t + 1 and t + 2
    frames = moving_frames(spec.frame_size, 6)
    for frame in frames:
        result = model.step(frame)
    assert result.predicted_frame.shape == result.predicted_frame_t2.shape == (8, 8, 3)
    assert not torch.equal(result.predicted_frame, result.predicted_frame_t2)
    large = load_spec("pvm-large")
    assert (large.use_t_minus_2_block, large.predict_two_steps, large.n_features) == (True, True, 2)
    paper_unit = load_spec("pvm-large-2016")
    assert (paper_unit.use_derivative, paper_unit.use_integral, paper_unit.use_error, paper_unit.predict_two_steps,
            paper_unit.layer_shapes) == (True, True, True, False, large.layer_shapes)


def test_large_spec_holds_the_keys_of_pvm_cudas_large_json():
    from app.resources import ROOT
    data = json.loads((ROOT / "models" / "specs" / "pvm-large.json").read_text())
    large = {"layer_shapes": [24, 20, 16, 12, 8, 6, 4, 2, 1], "momentum": 0.2, "initial_learning_rate": 0.005,
             "final_learning_rate": 0.0001, "intermediate_learning_rate": 0.001, "delay_each_layer_learning": 10000,
             "delay_final_learning_rate": 1000000, "delay_intermediate_learning_rate": 1000000,
             "use_t_minus_2_block": True, "predict_two_steps": True, "send_context_two_layers_back": True}
    assert {k: data[k] for k in large} == large


# ------------------------------------------------------------------------- the stale frame feed
@pytest.fixture
def tiny():
    """A tiny PVM of large random weights, whose predicted frame follows what it reads far more than
    that of a briefly trained one (which predicts much the same frame whatever it sees), and frames."""
    spec = PVMSpec(**{**TEST_SPECS["one-step"], "enable_lateral_at": 0, "enable_feedback_at": 0,
                      "weight_init_range": 1.0})
    model = PVM(spec, seed=1)
    model.learning = False
    return model, moving_frames(spec.frame_size, 10)


def test_a_fresh_feed_through_the_frame_is_the_frame_level_dream(tiny):
    """Fed back through the frame, the prediction the step before returned is exactly what the dream
    gives the bottom layer: the fresh feed is the prediction of that very frame, no step late."""
    model, frames = tiny
    state = model.state_dict()
    full = [1.0] + [0.0] * (model.spec.n_layers - 1)
    feed = FrameFeed(model, 0)
    dreamed = [feed.dream(frames[0], full).predicted_frame for _ in range(8)]
    model.load_state_dict(state)
    predicted = model.step(frames[0], dream=full).predicted_frame
    by_hand = [predicted]
    for _ in range(7):
        predicted = model.step(predicted.permute(2, 0, 1)).predicted_frame
        by_hand.append(predicted)
    for a, b in zip(dreamed, by_hand):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_a_stale_feed_reads_the_prediction_of_lag_steps_before_and_dreams_otherwise(tiny):
    model, frames = tiny
    state = model.state_dict()
    full = [1.0] + [0.0] * (model.spec.n_layers - 1)
    dreams = {}
    for lag in (0, 2):
        model.load_state_dict(state)
        feed, predicted, read = FrameFeed(model, lag), [], []
        for frame in frames[:4]:
            predicted.append(feed.step(frame).predicted_frame)
        for _ in range(12):
            result = feed.dream(frames[4], full)
            read.append(result.signal[0])
            predicted.append(result.predicted_frame)
        dreams[lag] = torch.stack(predicted[4:])
        if lag:
            for j, signal in enumerate(read):       # dream step j reads the prediction of step 4 + j − 1 − lag
                assert torch.equal(signal, predicted[4 + j - 1 - lag])
    assert (dreams[0] - dreams[2]).abs().max() > 1e-2
    with pytest.raises(ValueError, match="feed_lag must be a step count"):
        FrameFeed(model, -1)


def test_the_survey_dreamer_feeds_late_too(tiny):
    model, frames = tiny
    state = model.state_dict()
    ends = {}
    for lag in (0, 2):
        dreamer = PVMDreamer(model, feed_lag=lag)
        dreamer.restore(state)
        dreamer.hold(frames[0].clone(), 5)
        ends[lag] = [dreamer.dream_step(frames[0], "full")[0] for _ in range(10)][-1]
    assert (ends[0] - ends[2]).abs().max() > 1e-3


def test_the_dream_experiments_report_the_feed(tiny, tmp_path):
    model, _ = tiny
    path = save(model, tmp_path / "tiny.safetensors", {"description": "tiny, for tests"})
    replays = {}
    for lag in (0, 2):
        config = ReplayConfig(model=str(path), warmup=5, frames=20, window=3, strip=3, feed_lag=lag)
        replays[lag] = run_replay(config, tmp_path, progress=False)
    assert "its predicted frame of 2 steps before its fresh prediction" in replays[2].markdown()
    assert "its own fresh prediction" in replays[0].markdown()
    assert replays[2].to_dict()["config"]["feed_lag"] == 2
    assert replays[0].diagonal != replays[2].diagonal
    static = run_static_dream(StaticDreamConfig(model=str(path), hold=5, dream=10, starts=(0,), strip=(0, 1, 10),
                                                feed_lag=2), tmp_path, progress=False)
    assert "2 steps before" in static.markdown() and static.to_dict()["config"]["feed_lag"] == 2
    with pytest.raises(UserError, match="feed_lag must be a step count"):
        run_replay(ReplayConfig(model=str(path), warmup=2, frames=4, feed_lag=-1), tmp_path, progress=False)
