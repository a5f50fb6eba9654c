"""``hypnagogia dreamcheck``: dream from noise through the engine and measure the end frames."""

from __future__ import annotations

import json
from pathlib import Path

from app.commands.args import add_common, positive_int
from app.errors import UserError
from app.resources import runs_dir

CHECK_SIZE, CHECK_STEPS, CHECK_SEEDS = 256, 300, 4


def register(sub) -> None:
    check = sub.add_parser("dreamcheck", help="dream from noise through the engine; print how natural "
                                  "the end frames are, and the validation PSNR")
    add_common(check, size=CHECK_SIZE)
    check.add_argument("--steps", type=positive_int, default=CHECK_STEPS,
                       help=f"full-dream steps from noise (default {CHECK_STEPS})")
    check.add_argument("--seeds", type=positive_int, default=CHECK_SEEDS,
                       help=f"dreams, seeded --seed, --seed+1, … (default {CHECK_SEEDS})")
    check.add_argument("--out", default=str(runs_dir() / "dreamcheck"),
                       help="folder for the PNGs of end frames and reconstructions (default %(default)s)")
    check.add_argument("--json", default=None, help="also write the figures here")
    check.set_defaults(run=run)


def dream_summary(figs, seeds, size, steps, device, assignments=()) -> dict:
    from app.train.trainer import device_name

    return {"size": size, "steps": steps, "start": "uniform noise",
            "settings": ["dream=1", *assignments, "every other parameter at its default"],
            "measured_by": "hypnagogia dreamcheck (the engine, headless)",
            "device": device_name(device), "seeds": seeds, "frames": [f.to_dict() for f in figs],
            "all_pass": all(f.passes for f in figs)}


def figures_table(frames: list[dict], seeds: list[int]) -> str:
    lines = ["seed    std  saturated  finite   slope  verdict"]
    for seed, f in zip(seeds, frames):
        lines.append(f"{seed:>4}  {f['std']:5.3f}  {100 * f['saturated']:8.1f}%  {str(f['finite']):>6}  "
                     f"{f['slope']:6.2f}  {'pass' if f['passes'] else 'FAIL'}")
    return "\n".join(lines)


def run(args) -> int:
    from app.analysis.dreams import SATURATED_MAX, SLOPE_RANGE, STD_MIN, dream_end_frames, frame_figures
    from app.loop.device import pick_device
    from app.gl.context import headless_context
    from app.loop.session import load_model
    from app.train import figures
    from app.train.data import validation_preview
    from app.train.validation import validation_psnr

    device = pick_device(args.device)
    loaded = load_model(args.model, device)
    if args.size % loaded.model.size_multiple:
        raise UserError(f"--size {args.size} does not suit model {loaded.name}: it must be a multiple of "
                        f"{loaded.model.size_multiple}")
    seeds = list(range(args.seed, args.seed + args.seeds))
    ctx = headless_context()
    try:
        frames = dream_end_frames(ctx, loaded, args.size, args.steps, seeds, args.assignments, device)
    finally:
        ctx.release()
    figs = [frame_figures(f) for f in frames]
    psnr = validation_psnr(loaded.model)
    summary = dream_summary(figs, seeds, args.size, args.steps, device, args.assignments)
    out = Path(args.out)
    png = figures.write_png(out / f"{loaded.name}-dreams-{args.size}px-{args.steps}steps.png",
                            figures.grid([list(frames)]))
    figures.write_png(out / f"{loaded.name}-reconstructions.png",
                      figures.reconstructions(loaded.model, validation_preview()))
    print(f"{loaded.name}: {args.steps} steps of full dream from uniform noise at {args.size}², "
          f"default rule{' with ' + ' '.join(args.assignments) if args.assignments else ''}")
    print(figures_table(summary["frames"], seeds))
    print(f"pass: std ≥ {STD_MIN}, saturated < {100 * SATURATED_MAX:g}%, finite, slope in "
          f"[{SLOPE_RANGE[0]}, {SLOPE_RANGE[1]}]; photos sit at about −2.5 to −3.0")
    print(f"validation PSNR at 256²: {psnr:.2f} dB")
    print(f"end frames: {png}; held-out photos over their reconstructions beside it")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"model": loaded.name, "psnr_db": round(psnr, 2), **summary},
                                              indent=2) + "\n")
    return 0 if summary["all_pass"] else 1
