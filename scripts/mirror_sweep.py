"""Dream settings swept fast: a model's dream from either of dreamcheck's starts, all seeds at once in the
torch mirror of the loop (``app.loop.mirror``), judged by dreamcheck's own checks
(``app.analysis.verdict``). It finds the settings worth a run of ``hypnagogia dreamcheck`` through the
engine, which has the last word.

    python scripts/mirror_sweep.py --model ae-smooth-256 --sizes 512,1024 \
        --variants "persistence=0.3;motion=0.65;fatigue=0.2;wander=0|persistence=0.3;motion=0.65;fatigue=0.2;wander=0.3"

``--start sample`` follows the sample clip at ``dream=0`` first, each seed from the clip frame dreamcheck
starts it from (``app.analysis.dream_runs``). A variant sets the rule's persistence and the registry's
motion, fatigue and wander. Each variant prints one line of figures, the flow of its dreams among them
(phase correlation of end frames ``FLOW_GAP`` steps apart, pixels per step, +x right, +y down, the
median over seeds), and writes a strip of its seeds' end frames (JPEG) and every figure (JSON) to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.analysis.dream_runs import HOLD_STEPS, STARTS, DreamTrace  # noqa: E402
from app.analysis.motion import motion_window  # noqa: E402
from app.analysis.reference import CLIP_FRAMES, CLIP_STRIDE, measure_reference  # noqa: E402
from app.analysis.verdict import Thresholds, judge  # noqa: E402
from app.loop import mirror  # noqa: E402
from app.loop.drives import Fatigue, Wander  # noqa: E402
from app.models.checkpoint import load  # noqa: E402
from app.sources import open_source  # noqa: E402

SETTINGS = ("persistence", "motion", "fatigue", "wander")
FLOW_GAP = 10            # steps between the two frames whose offset measures the dream's flow
THUMB = 160


def parse_variant(text: str) -> dict[str, float]:
    variant = {}
    for part in text.split(";"):
        name, _, value = part.partition("=")
        if name not in SETTINGS:
            raise SystemExit(f"variant {text!r}: {name!r} is not one of {', '.join(SETTINGS)}")
        try:
            variant[name] = float(value)
        except ValueError:
            raise SystemExit(f"variant {text!r}: {name}={value!r} is not a number; write e.g. {name}=0.3") from None
    return variant


def clip_holds(size: int, seeds: int, device: str) -> torch.Tensor:
    """(HOLD_STEPS, seeds, 3, size, size): the clip frames each seed follows before its dream."""
    source = open_source("sample", size)
    try:
        clip = [source.read() for _ in range(source.frame_count)]
    finally:
        source.close()
    first = [seed % CLIP_FRAMES * CLIP_STRIDE for seed in range(seeds)]
    held = np.stack([[clip[(f + i) % len(clip)] for f in first] for i in range(HOLD_STEPS)])
    return torch.from_numpy(held).to(device).permute(0, 1, 4, 2, 3).float().div_(255)


def flow(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """Pixels per step the picture moved between two frames ``FLOW_GAP`` steps apart."""
    (dx, dy), _ = cv2.phaseCorrelate(before.mean(axis=2).astype(np.float64), after.mean(axis=2).astype(np.float64))
    return dx / FLOW_GAP, dy / FLOW_GAP


def dream(model, size: int, variant: dict[str, float], steps: int, seeds: int, device: str,
          start: str = "noise") -> tuple[list[DreamTrace], list[tuple[float, float]]]:
    torch.manual_seed(0)      # the motion, fatigue and wander noise: the same dreams on every run
    base = mirror.Rule.default(model.depth)
    rule = mirror.Rule(base.gain_self, base.gain_up, base.gain_down,
                       (variant.get("persistence", 0.0),) * model.depth, base.noise, base.squash)
    prediction, states = mirror.noise_start(model, seeds, size, torch.Generator().manual_seed(0), device)
    tired, field = Fatigue(), Wander()
    if start == "sample":
        with torch.no_grad():
            for frame in clip_holds(size, seeds, device):
                prediction, states = mirror.step(model, rule, prediction, states, source=frame, dream=0.0,
                                                 motion=variant.get("motion", 0.0),
                                                 fatigue=variant.get("fatigue", 0.0), tired=tired,
                                                 wander=variant.get("wander", 0.0), field=field)
            prediction = prediction.clamp(0.0, 1.0)
    judged = {steps - motion_window(steps), steps}
    kept = judged | {steps - FLOW_GAP}
    changes, frames = [], {}
    with torch.no_grad():
        for i in range(1, steps + 1):
            new, states = mirror.step(model, rule, prediction, states, motion=variant.get("motion", 0.0),
                                      fatigue=variant.get("fatigue", 0.0), tired=tired,
                                      wander=variant.get("wander", 0.0), field=field)
            new = new.clamp(0.0, 1.0)
            changes.append(((new - prediction) ** 2).mean(dim=(1, 2, 3)).sqrt())
            prediction = new
            if i in kept:
                frames[i] = prediction.permute(0, 2, 3, 1).float().cpu().numpy()
    changes = torch.stack(changes).cpu().numpy()
    return [DreamTrace(seed, start, changes[:, seed], {i: frames[i][seed] for i in judged},
                       bool(np.isfinite(changes[:, seed]).all())) for seed in range(seeds)], \
        [flow(frames[steps - FLOW_GAP][seed], frames[steps][seed]) for seed in range(seeds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model name or .safetensors path")
    parser.add_argument("--sizes", default="1024")
    parser.add_argument("--start", choices=STARTS, default="noise")
    parser.add_argument("--variants", default="persistence=0.3;motion=0.65;fatigue=0.2;wander=0",
                        help="variants separated by |, each name=value;… of " + ", ".join(SETTINGS))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--out", default="runs/mirror-sweep")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = load(args.model, device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        limits = Thresholds.for_seeds(measure_reference(size).periodic_limit, args.seeds)
        for text in args.variants.split("|"):
            variant = parse_variant(text)
            start = time.perf_counter()
            traces, flows = dream(loaded.model, size, variant, args.steps, args.seeds, device, args.start)
            dreams, groups, checks = judge(traces, limits)
            failed = [c.name for c in checks if not c.passed]
            seconds = time.perf_counter() - start

            def spread(figure):
                values = [figure(d) for d in dreams]
                return [round(min(values), 4), round(max(values), 4)]
            row = {"size": size, "start": args.start, "variant": variant, "steps": args.steps, "seeds": args.seeds,
                   "periodic_log10": spread(lambda d: d.look.periodic), "periodic_limit": limits.periodic,
                   "clipped": spread(lambda d: d.look.clipped), "one_colour": spread(lambda d: d.look.one_colour),
                   "mean_change": spread(lambda d: d.motion.mean_change), "drift": spread(lambda d: d.motion.drift),
                   "flow_px_per_step": [round(float(v), 3) for v in np.median(flows, axis=0)],
                   "looks": len(set(groups)), "fails": failed, "seconds": round(seconds, 1),
                   "dreams": [d.to_dict() for d in dreams]}
            results.append(row)
            print(f"{loaded.name} {size}² from {args.start} {text}: clipped {row['clipped']}, "
                  f"periodic {row['periodic_log10']} (limit {limits.periodic:.1f}), change {row['mean_change']}, "
                  f"drift {row['drift']}, flow {row['flow_px_per_step']} px/step, {row['looks']} looks, "
                  f"fails {failed or 'none'} ({seconds:.0f} s)", flush=True)
            ends = [cv2.resize(t.frames[t.steps], (THUMB, THUMB), interpolation=cv2.INTER_AREA) for t in traces]
            strip = (np.concatenate(ends, axis=1) * 255).round().astype(np.uint8)
            name = f"{loaded.name}-{size}-{args.start}-" + text.replace(";", "_").replace("=", "")
            cv2.imwrite(str(out / f"{name}.jpg"), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
            (out / f"{loaded.name}-{args.start}-sweep.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
