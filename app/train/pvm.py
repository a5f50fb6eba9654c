"""The PVM learning online from a video, a webcam or the sample clip (``hypnagogia train pvm``).

Progress shows steps/s and the mean frame error. Every ``--snapshot-every`` steps the full state
(weights, momentum, activity, step counter) goes to ``RUNS/NAME/state.safetensors`` (``--runs-dir``)
with the error curve (``curve.json``, ``error.png``); ``--resume`` continues from it (or from any PVM
model), and the end exports ``NAME.safetensors`` with a card (spec, data, steps, final error,
command) to ``--models-dir``, by default the user's models folder.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from app.resources import runs_dir, user_models_dir
from app.errors import UserError
from app.models import checkpoint
from app.models.pvm.model import PVM
from app.models.pvm.spec import load_spec

LOG_EVERY = 100                 # steps per point of the error curve
PRELOAD_BYTES = 1 << 30         # a video file up to this size as float frames is held on the device
WAIT_FOR_FRAME_S = 0.002
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def train_pvm(args) -> int:
    from app.loop.device import pick_device
    from app.sources import open_source

    if args.name is not None and not NAME.fullmatch(args.name):
        raise UserError(f"--name {args.name!r}: use letters, digits, '.', '_' and '-' (e.g. pvm-mine)")
    device = pick_device(args.device)
    model, curve, spec_name = _start(args, device)
    name = args.name or spec_name
    run_dir = Path(args.runs_dir) / name
    source = open_source(args.source, model.spec.frame_size, realtime=False)
    if source.message:
        print(source.message, file=sys.stderr)
    next_frame = _frame_feed(source, model.spec.frame_size, device)
    card = {"description": f"PVM ({spec_name}) trained online on {source.name}", "spec": spec_name,
            "data": f"{args.source} ({source.name}), {model.spec.frame_size}² frames",
            "command": shlex.join(_command(args))}
    start, first = time.perf_counter(), model.steps
    bar = tqdm(total=args.steps, unit="step", desc=f"train {name}")

    def out_of_time() -> bool:
        return args.minutes is not None and model.steps % LOG_EVERY == 0 and \
            time.perf_counter() - start > 60 * args.minutes

    window, counted = torch.zeros(model.spec.n_layers, device=device), 0
    try:
        for i in range(1, args.steps + 1):
            window += model.step(next_frame()).layer_errors
            counted += 1
            if model.steps % LOG_EVERY == 0:
                errors = (window / counted).tolist()
                window.zero_()
                counted = 0
                curve.append([model.steps, *errors])
                bar.set_postfix(error=f"{errors[0]:.4f}")
            bar.update()
            if i % args.snapshot_every == 0:
                _snapshot(model, curve, run_dir, card)
            if out_of_time():
                break
    except KeyboardInterrupt:
        bar.close()
        _snapshot(model, curve, run_dir, card)
        print(f"interrupted at step {model.steps}; resume with --resume {run_dir / 'state.safetensors'}",
              file=sys.stderr)
        raise
    finally:
        bar.close()
        source.close()
    seconds = time.perf_counter() - start
    if counted:
        curve.append([model.steps, *(window / counted).tolist()])
    card.update(_summary(model, curve, device, seconds, model.steps - first))
    _snapshot(model, curve, run_dir, card)
    path = checkpoint.save(model, Path(args.models_dir) / name, card, export=True)
    print(f"{name}: {model.steps} steps, frame error {card['final_error'][0]:.4f}, "
          f"{card['steps_per_s']:.0f} steps/s; wrote {path}, {path.with_suffix('.json')} and {run_dir}/")
    return 0


def _start(args, device: torch.device) -> tuple[PVM, list, str]:
    """The model (fresh from --spec, or the one --resume names), its error curve and its spec's name."""
    if args.resume is None:
        if args.spec is None:
            raise UserError("train pvm needs --spec (e.g. --spec pvm-small) or --resume CKPT")
        return PVM(load_spec(args.spec), device, seed=args.seed), [], Path(args.spec).stem
    loaded = checkpoint.load(args.resume, device)
    if not isinstance(loaded.model, PVM):
        raise UserError(f"--resume {args.resume}: not a PVM checkpoint; pass runs/NAME/state.safetensors")
    if args.spec is not None and load_spec(args.spec) != loaded.model.spec:
        raise UserError(f"--resume {args.resume}: its spec differs from --spec {args.spec}; drop --spec to resume")
    curve_path = loaded.path.parent / "curve.json"
    curve = json.loads(curve_path.read_text()) if curve_path.is_file() else []
    return loaded.model, [row for row in curve if row[0] <= loaded.model.steps], loaded.card.get("spec", loaded.name)


def _frame_feed(source, size: int, device: torch.device):
    """A function returning the next frame as (3, S, S) floats in [0, 1]. A video file that fits in
    PRELOAD_BYTES is decoded once and cycled on the device, so a step never waits for decoding or a
    host-to-device copy (on a GPU that wait, not the model, would set the pace); a webcam is waited
    for, never repeated."""
    count = getattr(source, "frame_count", 0)
    if 0 < count * 3 * size * size * 4 <= PRELOAD_BYTES:
        frames = torch.stack([_to_tensor(source.read(), device) for _ in tqdm(range(count), desc="decode", unit="frame",
                                                                              leave=False)])
        position = itertools.count()
        return lambda: frames[next(position) % count]

    def read() -> torch.Tensor:
        frame = source.read()
        while frame is None:
            time.sleep(WAIT_FOR_FRAME_S)
            frame = source.read()
        return _to_tensor(frame, device)
    return read


def _to_tensor(frame: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frame)).to(device).permute(2, 0, 1).float().div_(255)


def _snapshot(model: PVM, curve: list, run_dir: Path, card: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.save(model, run_dir / "state.safetensors", {**card, "steps": model.steps})
    (run_dir / "curve.json").write_text(json.dumps(curve) + "\n")
    if curve:
        _plot(curve, run_dir / "error.png")


def _plot(curve: list, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    data = np.array(curve)
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    for layer in range(1, data.shape[1]):
        axes.plot(data[:, 0], data[:, layer], label="frame" if layer == 1 else f"layer {layer - 1}",
                  linewidth=2 if layer == 1 else 1)
    axes.set_xlabel("step")
    axes.set_ylabel(f"mean |signal − prediction| (per {LOG_EVERY} steps)")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _summary(model: PVM, curve: list, device: torch.device, seconds: float, steps: int) -> dict:
    last = np.array(curve[-10:])[:, 1:].mean(0).round(5).tolist()
    return {"steps": model.steps, "final_error": last,
            "final_error_is": f"per layer, frame first: mean |signal − prediction| over the last "
                              f"{min(len(curve), 10)} points of the error curve (up to {LOG_EVERY} steps each)",
            "device": str(device), "seconds": round(seconds, 1), "steps_per_s": round(steps / max(seconds, 1e-9), 1)}


def _command(args) -> list[str]:
    parts = ["hypnagogia", "train", "pvm", "--source", args.source, "--steps", str(args.steps),
             "--snapshot-every", str(args.snapshot_every), "--device", args.device, "--seed", str(args.seed)]
    for flag, value in (("--spec", args.spec), ("--name", args.name), ("--resume", args.resume),
                        ("--minutes", args.minutes)):
        if value is not None:
            parts += [flag, str(value)]
    for flag, value, default in (("--models-dir", args.models_dir, str(user_models_dir())),
                                 ("--runs-dir", args.runs_dir, str(runs_dir()))):
        if value != default:
            parts += [flag, value]
    return parts
