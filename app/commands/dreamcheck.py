"""``hypnagogia dreamcheck``: dream through the engine, headless, and judge what a viewer would see:
periodic artefacts, clipping, a one-colour field, boiling, stillness, death and sameness, each
against natural photos and the sample clip measured the same way (``app.analysis.verdict``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from app.commands.args import add_common, positive_int, positive_size
from app.errors import UserError
from app.resources import runs_dir

DEFAULT_STEPS, DEFAULT_SEEDS = 3000, 8
CPU_SIZES, GPU_SIZES, GPU_DEFAULT_SIZES = (128,), (256, 512), (256, 512, 1024)
# the quick figures of short dreams that `hypnagogia train` writes on a model's card
CHECK_SIZE, CHECK_STEPS, CHECK_SEEDS = 256, 300, 4
COST = ("cost: ae-tiny-smooth at 128² dreams about 50 steps/s on a 2-core CPU, so the defaults, 8 seeds × "
        "(3,000 steps from noise + 3,100 from the clip) per size, take about 17 min there and --steps 450 "
        "--seeds 4 about 1.5 min; on a GPU, a few ms a step")


def register(sub) -> None:
    check = sub.add_parser(
        "dreamcheck", help="dream through the engine from noise and from the sample clip; judge periodic "
                           "artefacts, clipping, one-colour fields, boiling, death and sameness; exit 1 on a fail",
        description="Dreams of a model (dream=1, every other parameter at its default, then --set) through the "
                    "real engine, headless, measured beside natural photos and the sample clip. Prints a "
                    "table per size and start, one line per failed check, and writes a contact sheet per size "
                    f"and start, the figures as JSON and (--video) an mp4. Exits 1 when a check fails. {COST}.")
    add_common(check)
    check.add_argument("--sizes", type=_sizes, default=None, metavar="N,N,…",
                       help="dream sizes (default --size, else the size a model fixes, else 128 on the CPU; "
                            "256,512 on a GPU, and 1024 too for the GPU's default model)")
    check.add_argument("--steps", type=positive_int, default=DEFAULT_STEPS,
                       help=f"dream steps (default {DEFAULT_STEPS:,}); the motion figures read the last 1,000, or "
                            f"the last third of fewer")
    check.add_argument("--seeds", type=positive_int, default=DEFAULT_SEEDS,
                       help=f"dreams per size and start, seeded --seed, --seed+1, … (default {DEFAULT_SEEDS})")
    check.add_argument("--start", choices=("noise", "sample", "both"), default="both",
                       help="dream from uniform noise, from the sample clip (after following it for 100 steps) "
                            "or both (default)")
    check.add_argument("--video", action="store_true",
                       help="also write an mp4 of the first seed's dream at each size (its first start)")
    check.add_argument("--out", default=str(runs_dir() / "dreamcheck"),
                       help="folder for the contact sheets, videos, reconstructions and JSON (default %(default)s)")
    check.add_argument("--json", default=None, help="write the figures and thresholds here (default: in --out)")
    check.set_defaults(run=run)


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(positive_size(part.strip()) for part in text.split(","))
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"each size once, got {text!r}")
    return sizes


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


def check_sizes(args, loaded, device) -> tuple[int, ...]:
    """The sizes asked for, or the defaults for the device and model; each must suit the model."""
    from app.loop.session import PREFERRED_MODELS

    if args.sizes and args.size:
        raise UserError("give --sizes or --size, not both")
    sizes = args.sizes or ((args.size,) if args.size else None)
    capabilities = loaded.runtime().capabilities
    if sizes is None:
        if capabilities.fixed_size:
            sizes = (capabilities.fixed_size,)
        elif device.type == "cpu":
            sizes = CPU_SIZES
        else:
            sizes = GPU_DEFAULT_SIZES if loaded.name == PREFERRED_MODELS["gpu"][0] else GPU_SIZES
    for size in sizes:
        if not capabilities.suits(size):
            raise UserError(f"--size {size} does not suit model {loaded.name}: it {capabilities.size_rule()}")
    return sizes


def run(args) -> int:
    from app.analysis.dream_runs import HOLD_STEPS, STARTS
    from app.gl.context import headless_context
    from app.loop.device import pick_device
    from app.loop.session import load_model
    from app.train.trainer import device_name

    device = pick_device(args.device)
    loaded = load_model(args.model, device)
    sizes = check_sizes(args, loaded, device)
    starts = STARTS if args.start == "both" else (args.start,)
    seeds = list(range(args.seed, args.seed + args.seeds))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = ["dream=1", *args.assignments]
    print(f"{loaded.name}: {len(seeds)} seed{'s' if len(seeds) > 1 else ''} × {args.steps:,} steps of {' '.join(settings)}, the default rule, at "
          f"{', '.join(f'{s}²' for s in sizes)} from {' and from '.join(starts)}; {device_name(device)}, "
          f"{args.precision}")
    ctx = headless_context()
    try:
        results = [_check_size(ctx, loaded, size, device, starts, seeds, args, out) for size in sizes]
    finally:
        ctx.release()
    psnr = _reconstructions(loaded, out) if loaded.runtime().capabilities.encodes else None
    failures = [f"{loaded.name} {r['size']}² from {s['start']}: {c['name']}: {c['line']}"
                for r in results for s in r["starts"] for c in s["checks"] if not c["passed"]]
    path = Path(args.json) if args.json else out / f"{loaded.name}-dreamcheck.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = {"model": loaded.name, "psnr_db": None if psnr is None else round(psnr, 2),
               "device": device_name(device), "precision": args.precision,
               "settings": [*settings, "every other parameter at its default"],
               "measured_by": "hypnagogia dreamcheck (the engine, headless)", "seeds": seeds, "steps": args.steps,
               "sample_hold_steps": HOLD_STEPS, "sizes": results, "all_pass": not failures}
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(("" if psnr is None else f"\nvalidation PSNR at 256²: {psnr:.2f} dB; ") + f"figures: {path}")
    for line in failures:
        print(f"FAIL {line}")
    print(f"{loaded.name}: " + (f"{len(failures)} check{'s' if len(failures) > 1 else ''} failed" if failures
                                 else "every check passed"))
    return 1 if failures else 0


def _check_size(ctx, loaded, size: int, device, starts, seeds: list[int], args, out: Path) -> dict:
    """Every start's dreams at ``size``, judged beside the reference at that size; tables printed,
    contact sheets (and videos) written."""
    from tqdm import tqdm

    from app.analysis import check_report
    from app.analysis.contact_sheet import contact_sheet
    from app.analysis.dream_runs import HOLD_STEPS, DreamRunner
    from app.analysis.reference import measure_reference
    from app.analysis.verdict import Thresholds, judge
    from app.train import figures

    runner = DreamRunner(ctx, loaded, size, device, args.assignments, args.precision)
    reference = measure_reference(size)
    limits = Thresholds.for_seeds(reference.periodic_limit, len(seeds))
    print(f"\n{size}², the reference: natural photos and the sample clip's frames")
    print(check_report.REFERENCE_HEADER)
    print(check_report.reference_table(reference))
    results = []
    for start in starts:
        traces = []
        steps_each = args.steps + (HOLD_STEPS if start == "sample" else 0)
        with tqdm(total=len(seeds) * steps_each, desc=f"{loaded.name} {size}² from {start}", unit="step",
                  leave=False) as bar:
            for seed in seeds:
                filmed = args.video and start == starts[0] and seed == seeds[0]
                video = out / f"{loaded.name}-{size}px-{start}-seed{seed}.mp4" if filmed else None
                with _filming(video, size) as on_frame:
                    traces.append(runner.run(seed, start, args.steps, on_frame=on_frame, on_step=bar.update))
                if video is not None:
                    bar.write(f"video: {video}")
        dreams, groups, checks = judge(traces, limits)
        title = f"{loaded.name} at {size}², dream=1 from {start}: a row per seed, a column per step"
        sheet = figures.write_png(out / f"{loaded.name}-{size}px-{start}.png", contact_sheet(traces, title))
        print(f"\n{size}² from {start}, {args.steps:,} steps (contact sheet: {sheet})")
        print(check_report.dreams_table(dreams, groups))
        print(check_report.check_lines(checks))
        results.append({**check_report.start_dict(start, dreams, groups, checks), "sheet": str(sheet)})
    return check_report.size_dict(reference, limits, results)


@contextlib.contextmanager
def _filming(path: Path | None, size: int):
    """Where a dream's frames go: an mp4 at ``path`` (30 frames a second), or nowhere."""
    if path is None:
        yield None
        return
    import numpy as np

    from app.outputs.recorder import VideoRecorder

    with VideoRecorder(path, size, size, fps=30, staged=True, overwrite=True) as recorder:
        yield lambda frame: recorder.write(np.rint(np.clip(frame, 0, 1) * 255).astype(np.uint8))


def _reconstructions(loaded, out: Path) -> float:
    """Held-out photos over the reconstructions of a model that encodes them, as a PNG in ``out``;
    returns the validation PSNR."""
    from app.train import figures
    from app.train.data import validation_preview
    from app.train.validation import validation_psnr

    figures.write_png(out / f"{loaded.name}-reconstructions.png",
                      figures.reconstructions(loaded.model, validation_preview()))
    return validation_psnr(loaded.model)
