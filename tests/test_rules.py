"""Each shipped mixing rule, run by real OpenGL (EGL), matches its numpy reference."""

import numpy as np
import pytest
import torch

from app.gl.atlas import AtlasLayout
from app.gl.mixer import Mixer, RuleSet
from app.gl.shaders import parse_shader
from app.gl.host_transfer import HostTransfer
from app.params import MAX_LAYERS, make_registry
from reference_rules import RULES

# includes a channel count that is not a multiple of 4 and a tile wider than tall in the atlas
SHAPES = [(8, 32, 32), (6, 16, 16), (12, 8, 8), (20, 4, 4)]


def random_params(registry, rule, rng):
    """Random values inside every declared range; per-layer values differ by layer."""
    values = {}
    for p in registry.params(f"rule: {rule}"):
        key = p.name.split(".", 1)[1]
        if p.kind == "float":
            draw = lambda: float(rng.uniform(p.min, p.max))  # noqa: E731
        elif p.kind == "bool":
            draw = lambda: bool(rng.integers(2))  # noqa: E731
        else:
            draw = lambda: p.choices[int(rng.integers(len(p.choices)))]  # noqa: E731
        if p.per_layer:
            values[key] = [draw() for _ in range(MAX_LAYERS)]
            for layer, v in enumerate(values[key], 1):
                registry.set(f"{p.name}.{layer}", v)
        else:
            values[key] = draw()
            registry.set(p.name, values[key])
    return values


def run_rule(gl, rule, seed, lesions=True):
    rng = np.random.default_rng(seed)
    registry = make_registry()
    rules = RuleSet(gl, registry)
    registry.set("rule", rule)
    params = random_params(registry, rule, rng)
    if rule == "general":
        registry.set("general.noise", 0.0)  # noise is compared statistically in its own test
    layout = AtlasLayout(SHAPES)
    mixer = Mixer(gl, rules, layout)
    state, up, down = ([rng.uniform(-1.5, 1.5, s) for s in SHAPES] for _ in range(3))
    lesion_up = [bool(rng.integers(2)) and lesions for _ in SHAPES]
    lesion_down = [bool(rng.integers(2)) and lesions for _ in SHAPES]
    for layer, (u, d) in enumerate(zip(lesion_up, lesion_down), 1):
        registry.set(f"lesion.up.{layer}", u)
        registry.set(f"lesion.down.{layer}", d)
    t = HostTransfer()
    pack = lambda arrays: layout.pack([torch.tensor(a, dtype=torch.float32)[None] for a in arrays])  # noqa: E731
    t.upload(mixer.state, pack(state))
    t.upload(mixer.up, pack(up))
    t.upload(mixer.down, pack(down))
    mixer.render(registry, step_index=3)
    got = [g[0].numpy() for g in layout.unpack(t.download(mixer.state))]
    f32 = lambda arrays: [a.astype(np.float32).astype(np.float64) for a in arrays]  # noqa: E731
    want = RULES[rule](f32(state), f32(up), f32(down), lesion_up, lesion_down, params)
    mixer.release()
    return got, want


def test_every_shipped_rule_has_a_reference(gl):
    registry = make_registry()
    RuleSet(gl, registry)
    assert set(registry.param("rule").choices) == set(RULES)


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rule_matches_numpy_reference(gl, rule, seed):
    got, want = run_rule(gl, rule, seed)
    for layer, (g, w) in enumerate(zip(got, want), 1):
        assert g.shape == w.shape
        err = np.abs(g - w).max()
        assert err < 1e-3, f"{rule} layer {layer}: max error {err}"


def test_lesions_change_the_result(gl):
    """A check that the comparison above can fail: lesions really cut the drives."""
    got, _ = run_rule(gl, "ff_sum", seed=5, lesions=False)
    _, want_lesioned = run_rule(gl, "ff_sum", seed=5, lesions=True)
    assert any(np.abs(g - w).max() > 0.05 for g, w in zip(got, want_lesioned))


def test_general_rule_noise_has_the_requested_spread(gl):
    registry = make_registry()
    rules = RuleSet(gl, registry)
    for key, value in (("gain_self", 0.0), ("gain_up", 0.0), ("gain_down", 0.0), ("noise", 0.3),
                       ("persistence", 0.0), ("squash", "none")):
        registry.set(f"general.{key}", value)
    layout = AtlasLayout([(16, 64, 64)])
    mixer = Mixer(gl, rules, layout)
    t = HostTransfer()
    mixer.render(registry, step_index=1)
    first = layout.unpack(t.download(mixer.state))[0].numpy()
    mixer.render(registry, step_index=2)
    second = layout.unpack(t.download(mixer.state))[0].numpy()
    assert abs(first.mean()) < 0.01
    assert first.std() == pytest.approx(0.3, rel=0.03)
    assert np.corrcoef(first.ravel(), second.ravel())[0, 1] < 0.05   # fresh noise every step


def test_rule_headers_declare_registry_parameters():
    from app.resources import SHADER_DIR
    source = parse_shader(SHADER_DIR / "rules" / "ff_blur.glsl")
    names = {p.name: p for p in source.params}
    assert names["ff_blur.fb"].default == pytest.approx(1.333)
    assert names["ff_blur.torus"].kind == "bool"


def test_editing_a_rule_reloads_it_and_a_broken_edit_keeps_the_last_good_one(gl, tmp_path):
    import os
    rule = tmp_path / "scale.glsl"
    header = '/*{"INPUTS": [{"NAME": "k", "TYPE": "float", "DEFAULT": 2.0, "MIN": 0, "MAX": 4}]}*/\n'
    rule.write_text(header + '#include "lib/mix_main.glsl"\nvec4 rule(Cell c) { return k * c.up; }\n')
    registry = make_registry()
    rules = RuleSet(gl, registry, tmp_path)
    layout = AtlasLayout([(4, 8, 8)])
    mixer = Mixer(gl, rules, layout)
    t = HostTransfer()
    t.upload(mixer.up, torch.ones((layout.height, layout.width, 4)))

    def output():
        mixer.render(registry, 0)
        return float(t.download(mixer.state)[0, 0, 0])

    assert output() == pytest.approx(2.0)
    assert not rules.reload_if_changed()
    rule.write_text(header + '#include "lib/mix_main.glsl"\nvec4 rule(Cell c) { return -k * c.up; }\n')
    os.utime(rule, (1, 1))
    assert rules.reload_if_changed()
    assert output() == pytest.approx(-2.0)
    rule.write_text(header + '#include "lib/mix_main.glsl"\nvec4 rule(Cell c) { return k * c.upp; }\n')
    os.utime(rule, (2, 2))
    assert rules.reload_if_changed()
    assert "scale.glsl" in rules.errors["scale"]
    assert output() == pytest.approx(-2.0)
