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


# ----------------------------------------------------------------------------- broken shaders
# Each test breaks a copy of shaders/ (HYPNAGOGIA_SHADERS points the app at it), never the repo's.

def shader_copy(tmp_path):
    import shutil
    from app.resources import SHADER_DIR
    copy = tmp_path / "shaders"
    shutil.copytree(SHADER_DIR, copy)
    return copy


def break_line(path, line, text):
    """Replace line ``line`` (1-based) of ``path`` with ``text``."""
    lines = path.read_text().split("\n")
    lines[line - 1] = text
    path.write_text("\n".join(lines))


GENERAL_LINE = 16          # vec4 a = gain_self[l] * c.state + … in shaders/rules/general.glsl
MIX_MAIN_LINE = 31         # ivec2 cell_local; in shaders/lib/mix_main.glsl


def test_the_lines_these_tests_break_are_where_they_think():
    from app.resources import SHADER_DIR
    assert "gain_self[l]" in (SHADER_DIR / "rules" / "general.glsl").read_text().split("\n")[GENERAL_LINE - 1]
    assert "cell_local;" in (SHADER_DIR / "lib" / "mix_main.glsl").read_text().split("\n")[MIX_MAIN_LINE - 1]


def test_a_compile_error_names_the_file_and_line_of_the_rule_or_of_its_include(gl, tmp_path, monkeypatch):
    from app.gl.shaders import ShaderError
    from app.errors import UserError
    shaders = shader_copy(tmp_path)
    monkeypatch.setenv("HYPNAGOGIA_SHADERS", str(shaders))
    break_line(shaders / "rules" / "general.glsl", GENERAL_LINE, "    vec4 a = gain_selff[l] * c.state;")
    with pytest.raises(ShaderError) as e:
        RuleSet(gl, make_registry(), strict=True)
    message = str(e.value)
    assert isinstance(e.value, UserError) and "\n" not in message
    assert f"general.glsl:{GENERAL_LINE}: " in message and "gain_selff" in message, message

    break_line(shaders / "rules" / "general.glsl", GENERAL_LINE, "    vec4 a = gain_self[l] * c.state;")
    break_line(shaders / "lib" / "mix_main.glsl", MIX_MAIN_LINE, "ivec2 cell_local = no_such_thing;")
    with pytest.raises(ShaderError) as e:
        RuleSet(gl, make_registry(), strict=True)
    message = str(e.value)
    assert f"lib/mix_main.glsl:{MIX_MAIN_LINE}: " in message and "no_such_thing" in message, message


def test_lines_after_an_include_keep_their_numbers(gl, tmp_path):
    """An error below two nested includes (mix_main.glsl includes noise.glsl) points at its own line."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "late.glsl").write_text('#include "lib/mix_main.glsl"\n\nvec4 rule(Cell c) {\n'
                                     '    return c.up * undefined_gain;\n}\n')
    from app.gl.shaders import ShaderError
    with pytest.raises(ShaderError, match=r"late\.glsl:4: .*undefined_gain"):
        RuleSet(gl, make_registry(), rules, strict=True)


def test_the_window_keeps_a_rule_that_breaks_and_picks_up_new_rule_files(gl, tmp_path):
    import os
    from app.resources import SHADER_DIR
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "general.glsl").write_text((SHADER_DIR / "rules" / "general.glsl").read_text())
    registry = make_registry()
    ruleset = RuleSet(gl, registry, rules)              # the window's: not strict
    assert not ruleset.reload_if_changed()
    general = rules / "general.glsl"
    good = general.read_text()
    break_line(general, GENERAL_LINE, "    vec4 a = gain_selff[l] * c.state;")
    os.utime(general, (1, 1))
    assert ruleset.reload_if_changed()
    assert f"general.glsl:{GENERAL_LINE}: " in ruleset.errors["general"]
    assert "general" in ruleset.programs                # its last good program runs on
    general.write_text(good)
    os.utime(general, (2, 2))
    assert ruleset.reload_if_changed() and not ruleset.errors

    (rules / "added.glsl").write_text('/*{"INPUTS": [{"NAME": "k", "TYPE": "float", "DEFAULT": 1.5, '
                                      '"MIN": 0, "MAX": 4}]}*/\n#include "lib/mix_main.glsl"\n'
                                      "vec4 rule(Cell c) { return k * c.up; }\n")
    assert ruleset.reload_if_changed(), "a rule file added while running is not seen"
    assert "added" in registry.param("rule").choices and registry["added.k"] == 1.5
    (rules / "added.glsl").unlink()
    (rules / "typo.glsl").write_text('#include "lib/mix_main.glsl"\nvec4 rule(Cell c) { return c.stat; }\n')
    assert ruleset.reload_if_changed() and "typo" in ruleset.errors


def test_a_rule_that_breaks_while_headless_does_not_stop_a_reload(gl, tmp_path):
    """Strictness is for loading: a reload (only the window reloads) keeps the last good program."""
    import os
    rules = tmp_path / "rules"
    rules.mkdir()
    rule = rules / "one.glsl"
    rule.write_text('#include "lib/mix_main.glsl"\nvec4 rule(Cell c) { return c.up; }\n')
    ruleset = RuleSet(gl, make_registry(), rules, strict=True)
    rule.write_text('#include "lib/mix_main.glsl"\nvec4 rule(Cell c) { return c.upp; }\n')
    os.utime(rule, (1, 1))
    assert ruleset.reload_if_changed() and "one.glsl:2: " in ruleset.errors["one"]


def one_line_error(result, *needles):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("hypnagogia: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [
    ["record", "--steps", "3", "--quiet", "--out", "OUT/x.mp4"],
    ["record", "--steps", "3", "--quiet", "--out", "OUT/x.mp4", "--set", "rule=general"],
    ["bench", "--steps", "3", "--warmup", "1"],
    ["dreamcheck", "--steps", "2", "--seeds", "1", "--out", "OUT/check"],
])
def test_headless_commands_refuse_a_rule_that_does_not_compile(tmp_path, command, random_checkpoint):
    """Before: record exited 0 and rendered with ff_blur, without a word; --set rule=general said
    'rule expects one of ff_blur, ff_contrast, ff_sum'."""
    from conftest import run_cli
    shaders = shader_copy(tmp_path)
    break_line(shaders / "rules" / "general.glsl", GENERAL_LINE, "    vec4 a = gain_selff[l] * c.state;")
    args = [a.replace("OUT", str(tmp_path)) for a in command]
    result = run_cli(*args, "--model", str(random_checkpoint), "--size", "64",
                     env={"HYPNAGOGIA_SHADERS": str(shaders)})
    one_line_error(result, "mixing rule general does not compile", f"general.glsl:{GENERAL_LINE}: ", "gain_selff")
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("broken, needle, text", [
    ("lib/mix_main.glsl", "ivec2 cell_local;", "ivec2 cell_local = no_such_thing;"),
    ("composite.glsl", "uniform float dream;", "uniform float dream"),
    ("views/image.glsl", "void main", "this is not GLSL"),
])
def test_a_broken_shared_shader_is_one_line_too(tmp_path, broken, needle, text, random_checkpoint):
    """Before: a ShaderError traceback."""
    from conftest import run_cli
    shaders = shader_copy(tmp_path)
    line = next(i for i, t in enumerate((shaders / broken).read_text().split("\n"), 1) if needle in t)
    break_line(shaders / broken, line, text)
    result = run_cli("record", "--steps", "2", "--quiet", "--out", str(tmp_path / "x.mp4"), "--model",
                     str(random_checkpoint), "--size", "64", env={"HYPNAGOGIA_SHADERS": str(shaders)})
    message = one_line_error(result, f"{broken}:")
    # the compiler names the line of the error, or the next one when a declaration lacks its ';'
    assert any(f"{broken}:{n}: " in message for n in (line, line + 1)), message


def test_a_header_that_does_not_parse_stops_the_params_listing(tmp_path):
    from conftest import run_cli
    shaders = shader_copy(tmp_path)
    break_line(shaders / "rules" / "ff_sum.glsl", 1, '/*{ "DESCRIPTION": "x", "INPUTS": [ }*/')
    result = run_cli("params", env={"HYPNAGOGIA_SHADERS": str(shaders)})
    one_line_error(result, "ff_sum.glsl:1: header is not valid JSON")
