"""The PVM on the GPU in one run: many streams learning, and a PVM learning in the GL loop against alone.

    python3 scripts/pvm_gpu.py [--out DIR] [--work DIR] [--frames N] [--loop-only] [--smoke]

Run it from the repository root on a machine with a CUDA GPU and headless EGL; it takes about six
minutes (--loop-only: the loop alone, about three). It writes ``pvm_gpu.json`` and ``pvm_gpu.md``
into --out, and the training clip, the runs and the models into --work.

* Streams: ``hypnagogia train pvm --spec pvm-paper --streams B --held-out 1`` on the shipped PVMs'
  training clip (rendered into --work first), the same number of frames (--frames) at every B of
  1, 4, 16 and 64, the spec's schedule (which counts steps) divided by B so that every B follows it
  per frame seen: frames learned per second, the frame error against frames seen, the held-out
  error beside the baselines; and ``measure_steps_per_s`` of pvm-paper with B streams, learning.
* The loop: ``hypnagogia bench --model M --learn --device cuda`` against ``measure_steps_per_s`` of
  M's spec learning, in the same run, for pvm-paper and pvm-small (the shipped models, or fresh ones
  of their specs where models/ has none): one step per shown frame in normal mode (layers read the
  layer below) and in deep dream (layers read the GLSL mix), every step through GL; then normal mode
  at K steps per shown frame (``--steps-per-frame K``, K of FAST_K), the K − 1 steps before each
  shown one on the device alone. The headline of each model is the fastest of those whose shown
  frames stay at MIN_FPS or more a second.

``--smoke`` runs all of it with a tiny spec and clip on the CPU, in about a minute, to check that it
runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.models.pvm.bench import measure_steps_per_s  # noqa: E402
from app.models.pvm.spec import load_spec  # noqa: E402

STREAMS = (1, 4, 16, 64)
SCHEDULE = ("delay_each_layer_learning", "delay_final_learning_rate", "enable_lateral_at", "enable_feedback_at")
SEEN_AT = (0.1, 0.25, 0.5, 1.0)             # fractions of --frames at which the error is read off the curve
LOOP_MODELS = ("pvm-paper", "pvm-small")
MODES = (("normal", "reads the layer below"), ("deep dream", "reads the GLSL mix"))
FAST_K = (16, 32, 64)                       # steps per shown frame of the runs whose inner steps skip GL
MIN_FPS = 60                                # shown frames a second the headline keeps
TINY_SPEC = {"layer_shapes": [4, 2, 1], "input_block_size": 4, "hidden_block_size": 3, "initial_learning_rate": 0.05,
             "final_learning_rate": 0.01, "delay_each_layer_learning": 50, "delay_final_learning_rate": 200,
             "enable_lateral_at": 0, "enable_feedback_at": 0}


class Settings:
    """What a run measures with: the full run on the GPU, or tiny ones on the CPU (--smoke)."""

    def __init__(self, smoke: bool, frames: int | None, work: Path):
        self.smoke = smoke
        self.device = "cpu" if smoke else "cuda"
        self.frames = frames or (2_000 if smoke else 300_000)
        self.minutes = 0.5 if smoke else 2.5                # a cap on each training run
        self.clip = (["--size", "16", "--seconds", "10"] if smoke else ["--size", "80", "--seconds", "180"]) + \
            ["--seed", "2"]
        self.bench_steps, self.bench_warmup = (20, 5) if smoke else (1000, 50)
        self.fast_k, self.fast_steps = ((4,), 40) if smoke else (FAST_K, 4000)     # warm-up: 4 frames
        self.alone_steps = {b: 20 for b in STREAMS} if smoke else {1: 2000, 4: 1000, 16: 500, 64: 250}
        self.work = work
        if smoke:
            tiny = work / "pvm-tiny.json"
            tiny.write_text(json.dumps(TINY_SPEC))
            self.spec, self.loop_models = str(tiny), {"pvm-tiny": str(tiny)}
        else:
            self.spec, self.loop_models = "pvm-paper", {name: name for name in LOOP_MODELS}


def cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "app", *args]
    print(f"== {' '.join(['hypnagogia', *args])}", flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-2000:], flush=True)
    return done


def failed(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def training_clip(s: Settings) -> Path:
    path = s.work / ("pvm-train-smoke.mp4" if s.smoke else "pvm-train.mp4")
    if not path.is_file():
        done = subprocess.run([sys.executable, "-m", "app.sources.sample_clip", "--out", str(path), *s.clip],
                              cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"could not render the training clip: {failed(done)}")
    return path


def per_frame_spec(s: Settings, streams: int) -> str:
    """The spec with its schedule's step counts divided by ``streams``: the same schedule per frame seen."""
    if streams == 1:
        return s.spec
    spec = load_spec(s.spec).to_dict()
    for key in SCHEDULE:
        spec[key] = round(spec[key] / streams)
    path = s.work / f"{Path(s.spec).stem}-per-frame-{streams}.json"
    path.write_text(json.dumps(spec))
    return str(path)


def streams_run(s: Settings, clip: Path, streams: int) -> dict:
    """``train pvm --streams`` for --frames frames, its card and its curve against frames seen."""
    name = f"streams-{streams}"
    steps = max(1, s.frames // streams)
    started = time.perf_counter()
    done = cli("train", "pvm", "--spec", per_frame_spec(s, streams), "--source", str(clip), "--streams", str(streams),
               "--steps",
               str(steps), "--snapshot-every", str(steps), "--minutes", str(s.minutes), "--held-out", "1",
               "--name", name, "--device", s.device, "--runs-dir", str(s.work / "runs"),
               "--models-dir", str(s.work / "models"))
    if done.returncode != 0:
        return {"streams": streams, "error": failed(done)}
    card = json.loads((s.work / "models" / f"{name}.json").read_text())
    curve = json.loads((s.work / "runs" / name / "curve.json").read_text())
    seen = [(row[0] * streams, row[1]) for row in curve]
    at = {}
    for fraction in SEEN_AT:
        target = fraction * s.frames
        before = [error for frames, error in seen if frames <= target]
        at[f"{fraction:g}"] = round(before[-1], 5) if before else None
    every = max(1, len(seen) // 50)
    return {"streams": streams, "steps": card["steps"], "frames_seen": card["frames_seen"],
            "frames_per_s": card["frames_per_s"], "steps_per_s": card["steps_per_s"],
            "final_error": card["final_error"][0], "error_at_frames_seen": at, "held_out": card.get("held_out"),
            "curve_frames_error": seen[::every], "seconds": round(time.perf_counter() - started, 1)}


def alone(s: Settings, spec: str, streams: int = 1) -> dict:
    result = measure_steps_per_s(load_spec(spec), s.device, steps=s.alone_steps[streams], learn=True,
                                 streams=streams)
    print(f"   {spec} alone, {streams} stream(s): {result['steps_per_s']:,.0f} steps/s, "
          f"{result['frames_per_s']:,.0f} frames/s", flush=True)
    return result


def loop_model(s: Settings, name: str, spec: str) -> str:
    """The model the loop runs: the shipped one, or where there is none a fresh one of the spec (one
    step of training; a step takes as long whatever the weights)."""
    if (ROOT / "models" / f"{name}.safetensors").is_file():
        return name
    done = cli("train", "pvm", "--spec", spec, "--source", str(training_clip(s)), "--steps", "1", "--name", name,
               "--device", s.device, "--runs-dir", str(s.work / "runs"), "--models-dir", str(s.work / "models"))
    if done.returncode != 0:
        sys.exit(f"could not make a {name} model: {failed(done)}")
    return str(s.work / "models" / f"{name}.safetensors")


def bench(s: Settings, model: str, mode: str, per_frame: int = 1) -> dict:
    path = s.work / "bench" / f"{Path(model).stem}-{mode.replace(' ', '-')}-{per_frame}.json"
    steps, warmup = (s.bench_steps, s.bench_warmup) if per_frame == 1 else (s.fast_steps, 4 * per_frame)
    done = cli("bench", "--model", model, "--learn", "--device", s.device, "--source", "sample", "--realtime",
               "--steps", str(steps), "--warmup", str(warmup), "--set", f"mode={mode}",
               "--steps-per-frame", str(per_frame), "--json", str(path))
    if done.returncode != 0:
        return {"mode": mode, "steps_per_frame": per_frame, "error": failed(done)}
    result = json.loads(path.read_text())
    return {"mode": mode, **{k: result[k] for k in ("steps_per_frame", "inner_steps", "steps_per_s", "frames_per_s",
                                                    "loop_ms", "frame_ms", "model_ms", "stages_ms", "device",
                                                    "transfer", "gl_renderer")}}


def loop_runs(s: Settings) -> tuple[list[dict], list[dict]]:
    """Every bench run, and per model the headline: the fastest run at MIN_FPS shown frames or more."""
    rows, headlines = [], []
    for name, spec in s.loop_models.items():
        model = loop_model(s, name, spec)
        alone_rate = alone(s, spec)
        runs = [(mode, 1) for mode, _ in MODES] + [("normal", k) for k in s.fast_k]
        for mode, per_frame in runs:
            result = bench(s, model, mode, per_frame)
            if "error" not in result:
                result["of_alone"] = round(result["steps_per_s"] / alone_rate["steps_per_s"], 3)
                print(f"   {name} {mode}, {per_frame} per frame: {result['steps_per_s']:,.0f} steps/s, "
                      f"{result['frames_per_s']:,.0f} frames/s, {result['of_alone']:.2f} of alone", flush=True)
            rows.append({"model": name, "checkpoint": model, "alone_steps_per_s": alone_rate["steps_per_s"], **result})
        kept = [r for r in rows if r["model"] == name and "error" not in r and r["frames_per_s"] >= MIN_FPS]
        if kept:
            best = max(kept, key=lambda r: r["steps_per_s"])
            headlines.append({"model": name, **{k: best[k] for k in (
                "steps_per_frame", "inner_steps", "steps_per_s", "frames_per_s", "alone_steps_per_s", "of_alone")},
                "half_of_alone": best["of_alone"] >= 0.5})
        else:
            headlines.append({"model": name, "error": f"no run kept {MIN_FPS} shown frames a second"})
    return rows, headlines


def markdown(results: dict) -> str:
    s = results["settings"]
    per_run = f"{s['frames']:,} frames per streams run; " if "streams" in results else ""
    lines = [f"Machine: {results['machine']}; torch {results['torch']}. {per_run}{results['seconds']:.0f} s in all.",
             ""]
    if "streams" in results:
        lines += streams_markdown(results)
    return "\n".join(lines + loop_markdown(results)) + "\n"


def streams_markdown(results: dict) -> list[str]:
    s = results["settings"]
    lines = [f"### Streams: `train pvm --spec {s['spec']} --streams B` on the training clip, the schedule's "
             f"step counts ÷ B", "",
             "| B | steps/s alone | frames/s alone | frames/s training | frames seen | "
             + " | ".join(f"error at {f:.0%} of the frames" for f in SEEN_AT)
             + " | held-out error | copy | block-mean copy | least squares |",
             "|---:" * (9 + len(SEEN_AT)) + "|"]
    for run, rate in zip(results["streams"], results["streams_alone"]):
        if "error" in run:
            lines.append(f"| {run['streams']} | {rate['steps_per_s']:,.0f} | {rate['frames_per_s']:,.0f} | failed: "
                         f"{run['error']} |")
            continue
        held = run["held_out"] or {}
        errors = " | ".join("" if e is None else f"{e:.4f}" for e in run["error_at_frames_seen"].values())
        lines.append(f"| {run['streams']} | {rate['steps_per_s']:,.0f} | {rate['frames_per_s']:,.0f} | "
                     f"{run['frames_per_s']:,.0f} | {run['frames_seen']:,} | {errors} | "
                     + " | ".join(f"{held.get(k, float('nan')):.4f}" for k in ("model", "copy", "block_mean",
                                                                                "least_squares")) + " |")
    return lines + ["", "Errors are the frame's mean |frame − prediction| over the 100 steps of the curve point at "
                        "or before that many frames seen (the mean of the streams); held out: learning off, clip seed "
                        "1 as long and as fast as the training clip, 600 frames after 100.", ""]


def loop_markdown(results: dict) -> list[str]:
    lines = ["### The loop: `bench --model M --learn --steps-per-frame K` against the PVM alone, learning", "",
             "| model | mode | K | steps before the shown one | steps/s in the loop | shown frames/s | steps/s alone | "
             "of alone | ms a step | ms a frame | torch side of a GL step, ms |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    reads = dict(MODES)
    for row in results["loop"]:
        if "error" in row:
            lines.append(f"| {row['model']} | {row['mode']} | {row['steps_per_frame']} | failed: {row['error']} "
                         f"| | | | | | | |")
            continue
        before = "—" if row["steps_per_frame"] == 1 else ("on the device alone" if row["inner_steps"] else
                                                           "through GL")
        lines.append(f"| {row['model']} | {row['mode']} ({reads[row['mode']]}) | {row['steps_per_frame']} | {before} | "
                     f"{row['steps_per_s']:,.0f} | {row['frames_per_s']:,.0f} | {row['alone_steps_per_s']:,.0f} | "
                     f"{row['of_alone']:.2f} | {row['loop_ms']:.3f} | {row['frame_ms']:.3f} | {row['model_ms']:.3f} |")
    lines += ["", f"Headline (the fastest run that shows {MIN_FPS} frames a second or more):", ""]
    for h in results["loop_headline"]:
        if "error" in h:
            lines.append(f"* {h['model']}: {h['error']}")
            continue
        lines.append(f"* {h['model']}: {h['steps_per_s']:,.0f} steps/s in the loop at K = {h['steps_per_frame']} "
                     f"({h['frames_per_s']:,.0f} shown frames/s) against {h['alone_steps_per_s']:,.0f} alone: "
                     f"{h['of_alone']:.2f} of alone ({'at least' if h['half_of_alone'] else 'under'} half)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/pvm-gpu", help="folder for pvm_gpu.json and pvm_gpu.md")
    parser.add_argument("--work", default="/tmp/pvm-gpu", help="folder for the training clip, runs and models")
    parser.add_argument("--frames", type=int, default=None, help="frames each streams run learns from "
                        "(default 300,000; 2,000 with --smoke)")
    parser.add_argument("--loop-only", action="store_true", help="only the loop against the PVM alone, not streams")
    parser.add_argument("--smoke", action="store_true", help="tiny settings on the CPU: check that it runs")
    args = parser.parse_args()
    if not args.smoke and not torch.cuda.is_available():
        sys.exit("scripts/pvm_gpu.py needs a CUDA GPU; --smoke runs tiny settings on the CPU")
    out, work = Path(args.out), Path(args.work)
    for folder in (out, work, work / "bench"):
        folder.mkdir(parents=True, exist_ok=True)
    s = Settings(args.smoke, args.frames, work)
    started = time.perf_counter()
    results = {"machine": torch.cuda.get_device_name() if s.device == "cuda" else "CPU (smoke)",
               "torch": torch.__version__,
               "settings": {"spec": s.spec, "frames": s.frames, "device": s.device, "smoke": s.smoke,
                            "fast_k": list(s.fast_k), "min_fps": MIN_FPS}}
    if not args.loop_only:
        clip = training_clip(s)
        results["streams_alone"] = [alone(s, s.spec, b) for b in STREAMS]
        results["streams"] = [streams_run(s, clip, b) for b in STREAMS]
    results["loop"], results["loop_headline"] = loop_runs(s)
    results["seconds"] = round(time.perf_counter() - started, 1)
    (out / "pvm_gpu.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "pvm_gpu.md").write_text(markdown(results))
    print(markdown(results), flush=True)
    print(f"wrote {out / 'pvm_gpu.json'} and {out / 'pvm_gpu.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
