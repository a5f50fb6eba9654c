"""``hypnagogia params``: every live parameter with its range, default and help."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    params = sub.add_parser("params", help="list every live parameter with its range, default and help")
    params.add_argument("--set", dest="assignments", action="append", default=[], help=argparse.SUPPRESS)
    params.set_defaults(run=run)


def run(args) -> int:
    from app.gl.mixer import declare_rule_params
    from app.loop.session import apply_assignments, full_registry

    registry = full_registry()
    declare_rule_params(registry)
    apply_assignments(registry, args.assignments)
    for group in registry.groups():
        print(f"[{group}]")
        for p in registry.params(group):
            address = f"{p.name}.1…{p.name}.N" if p.per_layer else p.name
            value = registry.layers(p.name)[:1][0] if p.per_layer else registry[p.name]
            print(f"  {address:<28} {p.describe():<34} = {value!s:<8} {p.help}")
    return 0
