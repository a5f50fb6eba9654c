"""What ``hypnagogia bench`` runs: per-stage timings of the loop, headless, printed and written as JSON. With
``--live`` the loop is paced at a frame rate instead, as the window runs it, and the bench counts
the ticks it was late for and the frames the live recorder dropped.

The loop runs whole frames of ``steps_per_frame`` steps (``Engine.advance``), as the window does:
``steps_per_s`` counts model steps, ``frames_per_s`` shown frames. Stages are timed per call; where
the steps before a shown one skip GL (``Engine.needs_no_gl``) one call of ``inner steps`` takes them
all."""

from __future__ import annotations

import collections
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from app.errors import UserError
from app.gl.context import describe, headless_context
from app.gl.output import parse_output_size
from app.gl.views import natural_size
from app.outputs.recorder import VideoRecorder
from app.outputs.sinks import RecorderSink
from app.outputs.view_output import ViewOutput, view_output
from app.loop.session import build_engine

STAGE_ORDER = ("inner steps", "source", "composite", "download", "drive", "upload", "mix", "views", "readback",
               "encode", "fan-out")
PROJECTOR_SIZE, SEND_SIZE, SEND_FPS = (1920, 1080), (1280, 720), 30.0
LIVE_FPS = 60.0
LIVE_SECONDS = 10.0


class FanOut:
    """``--fan-out``: the projector's window (its render at 1920×1080 each tick) and a sender at
    1280×720, 30 fps, on a thread of its own: NDI where cyndilib is installed, else a sender that
    only copies the frame."""

    def __init__(self, engine):
        from app.outputs.senders import SenderSink, ndi
        from app.outputs.sinks import ThreadedSink

        self.engine = engine
        self.projector = view_output(engine, None, PROJECTOR_SIZE)
        self.output = view_output(engine, None, SEND_SIZE)
        try:
            self.sender = ndi(fps=SEND_FPS)
        except UserError:
            self.sender = ThreadedSink(SenderSink("frame copy", np.copy, lambda: None, SEND_FPS))
        self.output.add(self.sender)

    def tick(self) -> None:
        with self.engine.timer("fan-out"):
            self.projector.render()
            self.output.show()

    def close(self) -> dict:
        self.output.remove(self.sender)
        self.output.release()
        self.projector.release()
        return {"projector": list(PROJECTOR_SIZE),
                "sender": {"name": self.sender.name, "size": list(SEND_SIZE), "fps": SEND_FPS,
                           "frames_written": self.sender.frames_written, "frames_dropped": self.sender.frames_dropped}}


def _show(output: ViewOutput, recorder: RecorderSink | None) -> None:
    """The views rendered into the output's target; when recording, read back and encoded too."""
    if recorder is None:
        output.render()
    else:
        output.show()


def _start(output: ViewOutput, recorder: RecorderSink | None) -> None:
    if recorder is not None:
        output.add(recorder)


def _finish(engine, output: ViewOutput, recorder: RecorderSink | None) -> None:
    if recorder is not None:
        output.remove(recorder)     # the frames in flight first
    engine.ctx.finish()


def _run(engine, output: ViewOutput, recorder, frames: int, label: str) -> float:
    """Runs ``frames`` frames as fast as they go; returns seconds."""
    _start(output, recorder)
    start = time.perf_counter()
    for _ in tqdm(range(frames), desc=label, unit="frame", leave=False):
        engine.advance()
        _show(output, recorder)
    _finish(engine, output, recorder)
    return time.perf_counter() - start


def _run_paced(engine, output: ViewOutput, recorder, fps: float, seconds: float, fan_out: FanOut | None) -> dict:
    """One frame per tick of a ``fps`` clock for ``seconds``, sleeping until each tick. A frame whose
    work runs past the next tick is late; the loop then waits for the tick after it ends, as a
    window's vsync would, so the ticks it overran are skipped."""
    period = 1.0 / fps
    ticks = round(seconds * fps)
    work_ms: list[float] = []
    late = tick = 0
    late_by_stage: collections.Counter = collections.Counter()     # the stage that took longest in each late frame
    bar = tqdm(total=ticks, desc="live", unit="tick", leave=False)
    _start(output, recorder)
    start = time.perf_counter()
    while tick < ticks:
        delay = start + tick * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        began = time.perf_counter()
        totals_before = dict(engine.timer.totals)
        engine.advance()
        _show(output, recorder)
        if fan_out is not None:
            fan_out.tick()
        finished = time.perf_counter()
        work_ms.append((finished - began) * 1000.0)
        next_tick = tick + 1
        if finished > start + next_tick * period:
            late += 1
            spent = {k: v - totals_before.get(k, 0.0) for k, v in engine.timer.totals.items()}
            spent["outside the stages"] = work_ms[-1] - sum(spent.values())
            late_by_stage[max(spent, key=spent.get)] += 1
            next_tick = math.ceil((finished - start) / period)
        bar.update(min(next_tick, ticks) - tick)
        tick = next_tick
    elapsed = time.perf_counter() - start
    bar.close()
    _finish(engine, output, recorder)
    return {
        "fps": fps,
        "seconds": round(elapsed, 3),
        "ticks": ticks,
        "frames": len(work_ms),
        "late_ticks": late,
        "skipped_ticks": ticks - len(work_ms),
        "late_by_stage": dict(late_by_stage.most_common()),
        "work_ms": {"mean": round(float(np.mean(work_ms)), 3), "p99": round(float(np.percentile(work_ms, 99)), 3),
                    "max": round(max(work_ms), 3)},
        "frames_written": recorder.frames_written if recorder else None,
        "frames_dropped": recorder.frames_dropped if recorder else None,
        "fan_out": fan_out.close() if fan_out is not None else None,
    }


def run(args) -> int:
    if not args.live and (args.fps or args.seconds or args.fan_out):
        raise UserError("--fps, --seconds and --fan-out pace the loop as the window does: add --live")
    output_size = parse_output_size(args.output_size) if args.output_size else None
    ctx = headless_context()
    engine = build_engine(ctx, args, realtime=args.realtime or args.live)
    if args.learn:
        for address, value in engine.loaded.kind.learning_settings.items():
            engine.registry.set(address, value)
    if args.steps_per_frame:
        engine.registry.set("steps_per_frame", args.steps_per_frame)
    per_frame = engine.registry["steps_per_frame"]
    frames, warmup = math.ceil(args.steps / per_frame), math.ceil(args.warmup / per_frame)
    view = engine.registry["view"]
    width, height = output_size or natural_size(view, engine.size, engine.n_layers, engine.frame().two_step)
    output = view_output(engine, view, (width, height), timer=engine.timer)
    live = None
    with tempfile.TemporaryDirectory() as tmp:
        def recorder(name, **options):
            return RecorderSink(VideoRecorder(Path(tmp) / name, width, height, **options)) if args.record else None
        _run(engine, output, recorder("warmup.mp4"), warmup, "warm-up")
        engine.timer.reset()
        if args.live:
            fps = args.fps or LIVE_FPS
            live = _run_paced(engine, output, recorder("live.mp4", fps=fps, live=True), fps,
                              args.seconds or LIVE_SECONDS, FanOut(engine) if args.fan_out else None)
            frames_per_s = live["frames"] / live["seconds"]
            frame_ms = live["work_ms"]["mean"]
        else:
            seconds = _run(engine, output, recorder("bench.mp4"), frames, "end to end")
            frames_per_s = frames / seconds
            frame_ms = 1000.0 / frames_per_s
            # a second pass with a sync after every stage attributes the time to stages honestly
            engine.timer.reset()
            engine.timer.sync = engine._sync
            _run(engine, output, recorder("stages.mp4"), frames, "per stage")
        stages = engine.timer.means()
    stages_ms = {k: round(stages[k], 3) for k in STAGE_ORDER if k in stages}
    model_ms = engine.time_model()
    steps_per_s, loop_ms = frames_per_s * per_frame, frame_ms / per_frame
    result = {
        "steps_per_s": round(steps_per_s, 2),           # model steps
        "frames_per_s": round(frames_per_s, 2),         # shown frames
        "steps_per_frame": per_frame,
        # the steps before each shown one ran on the device alone, skipping GL
        "inner_steps": per_frame > 1 and engine.needs_no_gl(),
        "loop_ms": round(loop_ms, 3),                   # per step
        "frame_ms": round(frame_ms, 3),
        "model_ms": round(model_ms, 3),
        "loop_to_model": round(loop_ms / model_ms, 2) if model_ms else None,
        "stages_ms": stages_ms,
        "stages_synced": not args.live,
        "live": live,
        "device": str(engine.device),
        "transfer": engine.transfer_path,
        "precision": args.precision,
        "model": engine.loaded.name,
        "size": engine.size,
        "view": view,
        "output": [width, height],
        "record": bool(args.record),
        "learn": bool(args.learn) and engine.capabilities.learns,
        "steps": (live["frames"] if live else frames) * per_frame,
        "gl_renderer": describe(ctx),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        # dreaming toward a unit (app.loop.objective): strength 0 is off, the step and its CUDA graph untouched
        "objective": {k: engine.registry[f"objective.{k}"] for k in ("strength", "target", "jitter", "octaves")},
        "graphed": engine.graphed,
    }
    engine.release()
    _print(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _print(result: dict) -> None:
    width, height = result["output"]
    print(f"model {result['model']} at {result['size']}² on {result['device']} ({result['precision']}), output "
          f"{width}×{height} — {result['gl_renderer']}; tensor ↔ texture: {result['transfer']}")
    for stage, ms in result["stages_ms"].items():
        print(f"  {stage:<12} {ms:8.3f} ms")
    objective = result["objective"]
    print(f"  objective {'off' if not objective['strength'] else objective}; CUDA graph: {result['graphed']}")
    synced = "synced" if result["stages_synced"] else "not synced: GPU work may land in a later stage"
    print(f"  {'total':<12} {sum(result['stages_ms'].values()):8.3f} ms (stages, {synced})")
    live = result["live"]
    per_frame = result["steps_per_frame"]
    if per_frame > 1:
        how = "the steps before the shown one on the device alone" if result["inner_steps"] else \
            "every step through GL"
        print(f"{per_frame} steps per shown frame, {how}: {result['frames_per_s']:.1f} frames/s "
              f"({result['frame_ms']:.2f} ms/frame)")
    if live is None:
        print(f"end to end: {result['steps_per_s']:.1f} steps/s ({result['loop_ms']:.3f} ms/step); the model alone "
              f"{result['model_ms']:.3f} ms; loop/model = {result['loop_to_model']}")
        return
    work = live["work_ms"]
    print(f"live at {live['fps']:g} Hz for {live['seconds']:.1f} s: {live['frames']} frames of {live['ticks']} ticks, "
          f"{live['late_ticks']} late ticks ({live['skipped_ticks']} skipped); work per frame {work['mean']:.2f} ms "
          f"mean, {work['p99']:.2f} ms p99, {work['max']:.2f} ms max; loop/model = {result['loop_to_model']}")
    if live["late_by_stage"]:
        print("late frames by their slowest stage: " + ", ".join(f"{k} {n}" for k, n in live["late_by_stage"].items()))
    if result["record"]:
        print(f"live recording: {live['frames_written']} frames written, {live['frames_dropped']} dropped")
    fan_out = live["fan_out"]
    if fan_out:
        sender = fan_out["sender"]
        print(f"fan-out: projector {fan_out['projector'][0]}×{fan_out['projector'][1]} every tick; {sender['name']} at "
              f"{sender['size'][0]}×{sender['size'][1]}, {sender['fps']:g} fps: {sender['frames_written']} sent, "
              f"{sender['frames_dropped']} dropped")
