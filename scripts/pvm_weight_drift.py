"""How far a trained PVM's weights moved from where they started, by the kind of input they weigh.

The starting weights are rebuilt from the spec and the seed of the training command (``train pvm
--seed``, 0 by default): the same seed gives the same initial weights. For the signal inputs and
for each kind of context (lateral, feedback, global), over every unit: the RMS of the initial and of
the trained weights, the RMS of their difference, and the correlation of trained with initial.

    python3 scripts/pvm_weight_drift.py pvm-paper pvm-small --json docs/bench/pvm_weight_drift.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.models.checkpoint import load  # noqa: E402
from app.models.pvm.model import PVM  # noqa: E402
from app.models.pvm.wiring import FEEDBACK, GLOBAL, LATERAL  # noqa: E402

KINDS = {LATERAL: "lateral", FEEDBACK: "feedback", GLOBAL: "global"}


def _weights_by_kind(model: PVM) -> dict[str, torch.Tensor]:
    """Every unit's input weights, gathered by what they weigh: ``signal`` or a kind of context."""
    hidden = model.spec.hidden_size
    parts: dict[str, list[torch.Tensor]] = {}
    for group, w1 in zip(model.groups, model.input_weights()):
        for i in range(group.n):
            parts.setdefault("signal", []).append(w1[i, :, :group.signal_width].flatten())
            for c in range(group.contexts):
                kind = int(group.ctx_kind[i, c])
                if kind in KINDS:
                    start = group.signal_width + c * hidden
                    parts.setdefault(KINDS[kind], []).append(w1[i, :, start:start + hidden].flatten())
    return {name: torch.cat(chunks).float() for name, chunks in parts.items()}


def drift(name: str, seed: int) -> dict:
    trained = load(name).model
    initial = PVM(trained.spec, "cpu", seed=seed)
    now, then = _weights_by_kind(trained), _weights_by_kind(initial)

    def rms(t: torch.Tensor) -> float:
        return float(t.pow(2).mean().sqrt())
    figures = {}
    for kind, new in now.items():
        old = then[kind]
        figures[kind] = {"weights": new.numel(), "rms_initial": round(rms(old), 5), "rms_trained": round(rms(new), 5),
                         "rms_change": round(rms(new - old), 5),
                         "change_over_initial": round(rms(new - old) / rms(old), 2),
                         "correlation_with_initial": round(float(torch.corrcoef(torch.stack([new, old]))[0, 1]), 3)}
    return {"steps": trained.steps, "seed_of_initial_weights": seed, **figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="PVM names in models/ or .safetensors paths")
    parser.add_argument("--seed", type=int, default=0, help="the training command's --seed (default 0)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    results = {name: drift(name, args.seed) for name in args.models}
    for name, figures in results.items():
        print(f"{name} ({figures['steps']:,} steps)")
        for kind, f in figures.items():
            if isinstance(f, dict):
                print(f"  {kind:8s} {f['weights']:>10,} weights: RMS {f['rms_initial']:.4f} → {f['rms_trained']:.4f}, "
                      f"moved {f['rms_change']:.4f} ({f['change_over_initial']:.2f}× the initial), "
                      f"r with the initial {f['correlation_with_initial']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
