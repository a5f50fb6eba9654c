"""The rooms of ``app`` import downward only, and no module imports itself round a circle.

The graph is read from the source (every import statement, at module level or inside a function),
so a lazy import counts the same as any other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"

# lowest first; a room may import its own modules and those of any lower layer
LAYERS = (
    ("app", "app.errors", "app.params", "app.resources", "app.action_table"),
    ("app.sources", "app.gl", "app.models", "app.controllers"),
    ("app.loop",),
    ("app.outputs", "app.analysis", "app.train"),
    ("app.survey", "app.experiments"),
    ("app.ui",),
    ("app.commands",),
    ("app.__main__",),
)
LAYER_OF = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in APP.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The app modules ``path`` imports (``from pkg import name`` counts as pkg.name where that is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t == "app" or t.startswith("app."))
    found.discard(name)
    return found


def room_of(module: str) -> str:
    parts = module.split(".")
    room = ".".join(parts[:2])
    if room in LAYER_OF:
        return room
    raise AssertionError(f"{module} is in no declared room; add its room to LAYERS in {Path(__file__).name}")


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def test_every_import_goes_down_the_layers():
    wrong = []
    for module, targets in graph().items():
        here = room_of(module)
        for target in targets:
            there = room_of(target)
            if there != here and LAYER_OF[there] >= LAYER_OF[here] and LAYER_OF[here] > 0:
                wrong.append(f"{module} imports {target} ({there} is not below {here})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}          # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append(" → ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("source, bad", [
    ("from app.loop.engine import Engine\n", "app.gl.example imports app.loop.engine"),
    ("def f():\n    from app.ui import panel\n", "app.gl.example imports app.ui.panel"),
])
def test_the_layer_check_catches_an_upward_import(tmp_path, monkeypatch, source, bad):
    """The checker itself: an upward import written into a copy of a low room is reported."""
    import shutil
    copy = tmp_path / "app"
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "gl" / "example.py").write_text(source)
    monkeypatch.setattr(__import__(__name__), "APP", copy)
    with pytest.raises(AssertionError, match=bad):
        test_every_import_goes_down_the_layers()
