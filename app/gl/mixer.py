"""The mixing pass: every feature layer's next state from its state, bottom-up and top-down drives.

Each ``shaders/rules/*.glsl`` file is a rule; its header's inputs join the registry as
``<rule>.<input>``. Rules are recompiled when any shader file changes or a rule file appears. A
``strict`` rule set (every headless command's) refuses a rule that fails to compile with a one-line
``ShaderError`` naming file, line and the compiler's message; otherwise (the window's) a rule that
fails keeps its last good program and reports the error in ``errors``, and so does every reload.
"""

from __future__ import annotations

from pathlib import Path

import moderngl

from app.resources import shader_dir
from app.gl.atlas import AtlasLayout
from app.gl.shaders import (FileWatch, ShaderError, ShaderSource, compile_program, parse_shader, set_uniform,
                            shown_path)
from app.params import MAX_LAYERS, Registry


def default_rule_dir() -> Path:
    """The folder of the mixing rules in use (``rules/`` of ``app.resources.shader_dir()``)."""
    return shader_dir() / "rules"


def declare_rule_params(registry: Registry, rule_dir: Path | None = None) -> list[str]:
    """Declare every rule's header inputs without compiling (for listings and validation); a header
    that does not parse is a ``ShaderError``."""
    names = []
    for path in sorted(Path(rule_dir or default_rule_dir()).glob("*.glsl")):
        source = parse_shader(path)
        names.append(source.name)
        for param in source.params:
            registry.declare(param)
    if names:
        registry.set_choices("rule", tuple(names))
    return names


class RuleSet:
    """The compiled mixing rules, shared by every layout (they do not depend on the model)."""

    def __init__(self, ctx: moderngl.Context, registry: Registry, rule_dir: Path | None = None, *,
                 strict: bool = False):
        self.ctx = ctx
        self.registry = registry
        self.rule_dir = Path(rule_dir) if rule_dir is not None else default_rule_dir()
        self.programs: dict[str, moderngl.Program] = {}
        self.sources: dict[str, ShaderSource] = {}
        self.vaos: dict[str, moderngl.VertexArray] = {}
        self.errors: dict[str, str] = {}
        self._watch = FileWatch(self._files)
        self.load(strict=strict)

    def _files(self) -> list[Path]:
        return sorted({*shader_dir().rglob("*.glsl"), *self.rule_dir.glob("*.glsl")})

    def load(self, strict: bool = False) -> None:
        """(Re)compile every rule file; ``strict``: a rule that fails is a ``ShaderError``."""
        paths = sorted(self.rule_dir.glob("*.glsl"))
        for stem in set(self.errors) - {p.stem for p in paths}:
            del self.errors[stem]                       # its file went away
        for path in paths:
            try:
                source = parse_shader(path)
                program = compile_program(self.ctx, source)
            except ShaderError as e:
                if strict:
                    raise ShaderError(f"mixing rule {path.stem} does not compile: {e}; fix the shader") from None
                self.errors[path.stem] = str(e)
                continue
            self.errors.pop(path.stem, None)
            if path.stem in self.programs:
                self.vaos.pop(path.stem).release()
                self.programs.pop(path.stem).release()
            self.programs[path.stem] = program
            self.sources[path.stem] = source
            self.vaos[path.stem] = self.ctx.vertex_array(program, [])
            for param in source.params:
                self.registry.declare(param)
        if not self.programs:
            first = next(iter(self.errors.values()), "there is no .glsl file")
            raise ShaderError(f"no mixing rule compiles in {shown_path(self.rule_dir)}: {first}")
        self.registry.set_choices("rule", tuple(self.programs))

    def reload_if_changed(self) -> bool:
        """Recompile when a shader file changed (or appeared); True when something was reloaded."""
        if not self._watch.changed():
            return False
        self.load()
        return True

    def address_of_role(self, role: str, rule: str | None = None) -> str | None:
        """The registry address of the current (or named) rule's input with ``role``, if it has one."""
        rule = rule or self.registry["rule"]
        source = self.sources.get(rule)
        found = next((i for i in source.inputs if i.role == role), None) if source else None
        return None if found is None else f"{rule}.{found.name}"

    def passes_through(self, n_layers: int) -> bool:
        """True when the current rule, at the registry's values, hands every layer its bottom-up drive
        unchanged (the rule declares under which values it does, its inputs' ``PASS``)."""
        p = self.registry
        source = self.sources.get(p["rule"])
        declared = [] if source is None else [i for i in source.inputs if i.passes]
        if not declared:
            return False
        for layer in range(1, n_layers + 1):
            if p.get("lesion.up", layer) or p.get("lesion.down", layer):
                return False
            for inp in declared:
                value = p.get(f"{source.name}.{inp.name}", layer if inp.per_layer else 1)
                if value not in inp.passes:
                    return False
        return True

    def apply_inputs(self, name: str) -> moderngl.Program:
        program, source = self.programs[name], self.sources[name]
        for inp in source.inputs:
            key = f"{name}.{inp.name}"
            value = self.registry.layers(key) if inp.per_layer else self.registry[key]
            if inp.per_layer:
                set_uniform(program, inp.name, [inp.uniform_value(v) for v in value])
            else:
                set_uniform(program, inp.name, inp.uniform_value(value))
        return program


class Mixer:
    """State, bottom-up and top-down atlases of one model at one size, and the pass over them."""

    def __init__(self, ctx: moderngl.Context, rules: RuleSet, layout: AtlasLayout, dtype: str = "f4"):
        if len(layout.bands) > MAX_LAYERS:
            raise ValueError(f"at most {MAX_LAYERS} feature layers, got {len(layout.bands)}")
        self.ctx = ctx
        self.rules = rules
        self.layout = layout

        def atlas() -> moderngl.Texture:
            tex = ctx.texture(layout.size, 4, dtype=dtype)
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            tex.repeat_x = tex.repeat_y = False
            return tex

        self.states = [atlas(), atlas()]
        self.fbos = [ctx.framebuffer(color_attachments=[t]) for t in self.states]
        self.up = atlas()
        self.down = atlas()
        self.current = 0

    @property
    def state(self) -> moderngl.Texture:
        return self.states[self.current]

    @property
    def textures(self) -> tuple[moderngl.Texture, ...]:
        return (*self.states, self.up, self.down)

    def render(self, registry: Registry, step_index: int) -> None:
        """state ← rule(state, up, down) for every layer, one draw call."""
        name = registry["rule"]
        program = self.rules.apply_inputs(name)
        for key, values in self.layout.uniforms().items():
            set_uniform(program, key, values)
        n = len(self.layout.bands)
        set_uniform(program, "n_layers", n)
        set_uniform(program, "up_on", [0.0 if registry.get("lesion.up", l + 1) else 1.0 for l in range(MAX_LAYERS)])
        set_uniform(program, "down_on", [0.0 if registry.get("lesion.down", l + 1) else 1.0
                                         for l in range(MAX_LAYERS)])
        set_uniform(program, "step_index", step_index)
        set_uniform(program, "state_tex", 0)
        set_uniform(program, "up_tex", 1)
        set_uniform(program, "down_tex", 2)
        self.state.use(0)
        self.up.use(1)
        self.down.use(2)
        target = 1 - self.current
        self.fbos[target].use()
        self.rules.vaos[name].render(moderngl.TRIANGLES, vertices=3)
        self.current = target

    def release(self) -> None:
        for obj in (*self.fbos, *self.states, self.up, self.down):
            obj.release()
