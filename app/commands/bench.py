"""``hypnagogia bench``: per-stage timings of the loop, headless, printed and written as JSON."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from tqdm import tqdm

from app.gl.context import describe, headless_context
from app.gl.output import OffscreenTarget
from app.gl.views import Views, natural_size
from app.io.recorder import VideoRecorder
from app.session import build_engine

STAGE_ORDER = ("source", "composite", "download", "drive", "upload", "mix", "views", "readback", "encode")


def _run(engine, views, target, recorder, steps: int, label: str) -> float:
    """Runs ``steps`` steps (views, and readback + encode when recording); returns seconds."""
    timer, registry = engine.timer, engine.registry
    view = registry["view"]
    start = time.perf_counter()
    for _ in tqdm(range(steps), desc=label, unit="step", leave=False):
        engine.step()
        with timer("views"):
            views.render(engine.frame(), view, target.fbo, registry["error_gain"])
        if recorder is not None:
            with timer("readback"):
                pixels = target.read()
            with timer("encode"):
                recorder.write(pixels)
    if recorder is not None:
        recorder.close()
    engine.ctx.finish()
    return time.perf_counter() - start


def bench(args) -> int:
    ctx = headless_context()
    engine = build_engine(ctx, args, realtime=False)
    if args.learn:
        engine.registry.set("pvm.learning", True)
        engine.registry.set("pvm.schedule", False)
    view = engine.registry["view"]
    width, height = natural_size(view, engine.size, engine.n_layers)
    target = OffscreenTarget(ctx, width, height)
    views = Views(ctx)
    with tempfile.TemporaryDirectory() as tmp:
        def recorder(name):
            return VideoRecorder(Path(tmp) / name, width, height) if args.record else None
        _run(engine, views, target, recorder("warmup.mp4"), args.warmup, "warm-up")
        engine.timer.reset()
        seconds = _run(engine, views, target, recorder("bench.mp4"), args.steps, "end to end")
        steps_per_s = args.steps / seconds
        # a second pass with a sync after every stage attributes the time to stages honestly
        engine.timer.reset()
        engine.timer.sync = engine._sync
        _run(engine, views, target, recorder("stages.mp4"), args.steps, "per stage")
        stages = engine.timer.means()
    stages_ms = {k: round(stages[k], 3) for k in STAGE_ORDER if k in stages}
    model_ms = stages.get("drive", 0.0)
    loop_ms = 1000.0 / steps_per_s
    result = {
        "steps_per_s": round(steps_per_s, 2),
        "loop_ms": round(loop_ms, 3),
        "model_ms": round(model_ms, 3),
        "loop_to_model": round(loop_ms / model_ms, 2) if model_ms else None,
        "stages_ms": stages_ms,
        "device": str(engine.device),
        "model": engine.loaded.name,
        "size": engine.size,
        "view": view,
        "output": [width, height],
        "record": bool(args.record),
        "learn": bool(args.learn) and engine.kind == "pvm",
        "steps": args.steps,
        "gl_renderer": describe(ctx),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    engine.release()
    print(f"model {result['model']} at {engine.size}² on {result['device']} — {describe(ctx)}")
    for stage, ms in stages_ms.items():
        print(f"  {stage:<10} {ms:8.3f} ms")
    print(f"  {'total':<10} {sum(stages_ms.values()):8.3f} ms (stages, synced)")
    print(f"end to end: {steps_per_s:.1f} steps/s ({loop_ms:.2f} ms/step; loop/model = "
          f"{result['loop_to_model']})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
