"""GLSL sources with an ISF-style JSON header, ``#include``s, and hot reload.

A shader may start with a comment holding a JSON object::

    /*{ "DESCRIPTION": "…", "INPUTS": [ {"NAME": "fb", "TYPE": "float", "DEFAULT": 1.333,
                                        "MIN": 0, "MAX": 4, "PER_LAYER": false} ] }*/

Each input becomes a uniform declared for the shader (so the code only uses it) and a registry
parameter ``<shader>.<NAME>`` shown in the panel and settable from the CLI, presets, MIDI and OSC.
TYPE is ``float``, ``int``, ``bool`` or ``long`` (a choice: ``VALUES`` and ``LABELS``; the uniform
holds the index). ``PER_LAYER`` makes it an array with one value per feature layer. A mixing rule's
input may also say what it is for: ``ROLE`` (``"bottom-up gain"``, ``"top-down gain"``: viewing
modes and model defaults address inputs by role, whatever the rule calls them) and ``PASS`` (its
value, or list of values, under which the rule hands every layer its bottom-up drive unchanged).

Every failure is a ``ShaderError``, a ``UserError`` of one line naming the file and line at fault
(``shaders/lib/mix_main.glsl:40: …`` when the error is in an included file) and the compiler's message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import moderngl

from app.errors import UserError
from app.resources import shader_dir
from app.params import MAX_LAYERS, Param

GLSL_VERSION = "#version 330 core"
_HEADER = re.compile(r"^\s*/\*\s*(\{.*?\})\s*\*/", re.S)
_INCLUDE = re.compile(r'[ \t]*#include[ \t]+"([^"]+)"[ \t]*(//.*)?\r?')

VERTEX_SHADER = GLSL_VERSION + """
out vec2 uv;
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""


class ShaderError(UserError):
    """A shader failed to parse or compile; the message (one line) names the file and line."""


def shown_path(path: Path) -> str:
    """``path`` as the user reads it: relative to the working folder when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


@dataclass
class ShaderInput:
    name: str
    type: str
    default: object
    min: float | None = None
    max: float | None = None
    labels: tuple[str, ...] = ()
    per_layer: bool = False
    label: str = ""
    help: str = ""
    role: str = ""
    passes: tuple = ()              # values under which the rule passes the bottom-up drive through

    def uniform_declaration(self) -> str:
        glsl = {"float": "float", "int": "int", "bool": "bool", "long": "int"}[self.type]
        return f"uniform {glsl} {self.name}" + (f"[{MAX_LAYERS}];" if self.per_layer else ";")

    def to_param(self, prefix: str) -> Param:
        common = dict(name=f"{prefix}.{self.name}", help=self.help or self.label or self.name,
                      group=f"rule: {prefix}", per_layer=self.per_layer, label=self.label)
        if self.type == "long":
            return Param(kind="choice", default=self.labels[int(self.default)], choices=self.labels, **common)
        if self.type == "bool":
            return Param(kind="bool", default=bool(self.default), **common)
        return Param(kind=self.type, default=self.default, min=self.min, max=self.max, **common)

    def uniform_value(self, value):
        if self.type == "long":
            return self.labels.index(value)
        return value


@dataclass
class ShaderSource:
    path: Path
    description: str
    inputs: list[ShaderInput]
    body: str                      # the GLSL after the header, includes expanded
    params: list[Param] = field(default_factory=list)
    lines: tuple[tuple[Path, int], ...] = ()   # the file and line each line of the body comes from

    @property
    def name(self) -> str:
        return self.path.stem

    def code(self, prelude: str = "") -> str:
        decls = "\n".join(i.uniform_declaration() for i in self.inputs)
        return f"{GLSL_VERSION}\n#define MAX_LAYERS {MAX_LAYERS}\n{decls}\n{prelude}\n#line 1\n{self.body}"


def _expand_includes(text: str, path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[str, Path, int]]:
    """The lines of ``text`` with every ``#include "file"`` (relative to the including file, then to
    the shader folder) inlined, each with the file and line it comes from, so that a compiler's
    line number can be traced back (drivers do not all report ``#line`` source-string numbers)."""
    out: list[tuple[str, Path, int]] = []
    for number, line in enumerate(text.split("\n"), 1):
        m = _INCLUDE.fullmatch(line)
        if m is None:
            out.append((line, path, number))
            continue
        name = m.group(1)
        target = next((p.resolve() for p in (path.parent / name, shader_dir() / name) if p.exists()), None)
        if target is None:
            raise ShaderError(f"{shown_path(path)}:{number}: cannot find #include \"{name}\"")
        if target in seen:
            raise ShaderError(f"{shown_path(path)}:{number}: #include cycle through {name}")
        try:
            included = target.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise ShaderError(f"{shown_path(path)}:{number}: cannot read #include \"{name}\" ({e})") from None
        out += _expand_includes(included, target, (*seen, target))
    return out


def _parse_input(path: Path, spec: dict) -> ShaderInput:
    try:
        name, kind = spec["NAME"], spec.get("TYPE", "float")
    except (KeyError, TypeError):
        raise ShaderError(f"{path}: every INPUTS entry needs a NAME") from None
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)):
        raise ShaderError(f"{path}: input name {name!r} is not a GLSL identifier")
    if kind not in ("float", "int", "bool", "long"):
        raise ShaderError(f"{path}: input {name} has TYPE {kind!r}; use float, int, bool or long")
    labels = tuple(str(x) for x in spec.get("LABELS", spec.get("VALUES", ())))
    if kind == "long" and not labels:
        raise ShaderError(f"{path}: input {name} of TYPE long needs LABELS")
    default = spec.get("DEFAULT", 0 if kind != "bool" else False)
    inp = ShaderInput(name=name, type=kind, default=default, min=spec.get("MIN"), max=spec.get("MAX"),
                      labels=labels, per_layer=bool(spec.get("PER_LAYER", False)),
                      label=spec.get("LABEL", ""), help=spec.get("HELP", ""), role=str(spec.get("ROLE", "")),
                      passes=tuple(passes) if isinstance(passes := spec.get("PASS", ()), list) else (passes,))
    if kind in ("float", "int") and (inp.min is None or inp.max is None):
        raise ShaderError(f"{path}: input {name} needs MIN and MAX")
    return inp


def parse_shader(path: Path) -> ShaderSource:
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ShaderError(f"cannot read shader {path}: {e}") from None
    description, inputs, body = "", [], text
    m = _HEADER.match(text)
    if m:
        try:
            header = json.loads(m.group(1))
        except json.JSONDecodeError as e:
            line = text.count("\n", 0, m.start(1)) + e.lineno
            raise ShaderError(f"{shown_path(path)}:{line}: header is not valid JSON ({e.msg}, column {e.colno})") \
                from None
        if not isinstance(header, dict):
            raise ShaderError(f"{shown_path(path)}:1: header must be a JSON object")
        description = header.get("DESCRIPTION", "")
        inputs = [_parse_input(path, spec) for spec in header.get("INPUTS", [])]
        # keep line numbers of compiler errors pointing into the file
        body = "\n" * m.group(0).count("\n") + text[m.end():]
    expanded = _expand_includes(body, Path(path), (Path(path).resolve(),))
    source = ShaderSource(path=Path(path), description=description, inputs=inputs,
                          body="\n".join(line for line, _, _ in expanded),
                          lines=tuple((file, number) for _, file, number in expanded))
    try:
        source.params = [i.to_param(source.name) for i in inputs]
    except (ValueError, IndexError) as e:
        raise ShaderError(f"{path}: bad input declaration ({e})") from None
    return source


# where drivers put the line of a message (after its source string, always 0 here): Mesa
# "0:12(5): error: …", NVIDIA "0(12) : error C1008: …", AMD and Apple "ERROR: 0:12: …"
_LOCATIONS = (re.compile(r"^(?P<file>\d+):(?P<line>\d+)\(\d+\):\s*(?:error:?)?\s*(?P<msg>.*)$", re.I),
              re.compile(r"^(?P<file>\d+)\((?P<line>\d+)\)\s*:\s*(?:error\s*\w*:?)?\s*(?P<msg>.*)$", re.I),
              re.compile(r"^error:\s*(?P<file>\d+):(?P<line>\d+):\s*(?P<msg>.*)$", re.I))


def compiler_message(log: str, source: ShaderSource) -> str:
    """The first error of a compiler log as ``file:line: message`` (``(+N more)`` when there are more)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and "compiler failed" not in line.lower()]
    if not errors:
        return f"{shown_path(source.path)}: {' | '.join(lines)[:300] or 'the GLSL compiler failed'}"
    first = errors[0]
    for pattern in _LOCATIONS:
        m = pattern.match(first)
        if m:
            line = int(m["line"])
            file, line = source.lines[line - 1] if 1 <= line <= len(source.lines) else (source.path, line)
            first = f"{shown_path(file)}:{line}: {m['msg'].strip()}"
            break
    else:
        first = f"{shown_path(source.path)}: {first}"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return first[:300] + more


def compile_program(ctx: moderngl.Context, source: ShaderSource, prelude: str = "") -> moderngl.Program:
    try:
        return ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=source.code(prelude))
    except moderngl.Error as e:
        raise ShaderError(compiler_message(str(e), source)) from None


def program_from_file(ctx: moderngl.Context, path: Path, prelude: str = "") -> tuple[moderngl.Program, ShaderSource]:
    source = parse_shader(path)
    try:
        return compile_program(ctx, source, prelude), source
    except ShaderError as e:
        raise ShaderError(f"shader {Path(path).name} does not compile: {e}; fix the shader") from None


_UNSET = object()


def set_uniform(program: moderngl.Program, name: str, value) -> None:
    """Set a uniform when the compiled program still uses it (unused ones are optimised away) and
    its value changed: most stay the same from step to step, and each set is a GL call."""
    if program.extra is None:
        program.extra = {}
    if program.extra.get(name, _UNSET) == value:
        return
    program.extra[name] = list(value) if isinstance(value, list) else value
    if name not in program:
        return
    u = program[name]
    if isinstance(value, (list, tuple)) and getattr(u, "array_length", 1) > 1:
        length = u.array_length
        values = list(value)[:length]
        if len(values) < length:
            values += [values[-1] if values else 0] * (length - len(values))
        if isinstance(values[0], (tuple, list)):
            u.value = [tuple(v) for v in values]
        else:
            kind = float if u.fmt.endswith("f") else int      # fmt, not value: reading a uniform is a GL round trip
            u.value = [kind(v) for v in values]
    elif isinstance(value, bool):
        u.value = int(value)
    else:
        u.value = value


class FileWatch:
    """Tells when any of a set of files changed, appeared or went away since the last look (cheap
    mtime polling). ``paths`` is a list, or a function giving the list anew at every look (so that
    files added to a folder are seen)."""

    def __init__(self, paths):
        self._list = paths if callable(paths) else (lambda: list(paths))
        self._stamps = self._look()

    def _look(self) -> dict[Path, float]:
        return {Path(p): self._mtime(p) for p in self._list()}

    @staticmethod
    def _mtime(p) -> float:
        try:
            return Path(p).stat().st_mtime
        except OSError:
            return 0.0

    def changed(self) -> bool:
        fresh = self._look()
        if fresh != self._stamps:
            self._stamps = fresh
            return True
        return False
