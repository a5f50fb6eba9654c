"""The whole GPU benchmark in one call: the GPU tests, `hypnagogia bench` in every configuration,
and the table written into docs/performance.md (between the GPU-benchmark markers).

    python3 scripts/gpu_benchmark.py [--quick] [--out DIR]

Run it from the repository root on a machine with a CUDA GPU and headless EGL. Each bench writes
its JSON into --out; the table gives the machine, the command and the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- gpu-benchmark -->", "<!-- /gpu-benchmark -->"
LOOP = ["--device", "cuda", "--source", "sample", "--realtime"]


def configurations(quick: bool) -> list[tuple[str, list[str], dict]]:
    steps = "500" if quick else "3000"
    seconds = "10" if quick else "60"

    def loop(model: str, size: int, precision: str = "fp32", n: str = steps) -> list[str]:
        return ["--model", model, *LOOP, "--size", str(size), "--precision", precision, "--steps", n]

    return [
        ("ae-tiny-smooth 512², fp32", loop("ae-tiny-smooth", 512), {}),
        ("ae-tiny-smooth 512², fp32, host copies", loop("ae-tiny-smooth", 512, n="300"),
         {"HYPNAGOGIA_TRANSFER": "host"}),
        ("ae-tiny-smooth 512², fp16", loop("ae-tiny-smooth", 512, "fp16"), {}),
        ("ae-tiny-smooth 512², bf16", loop("ae-tiny-smooth", 512, "bf16"), {}),
        ("ae-tiny-smooth 1024², fp16", loop("ae-tiny-smooth", 1024, "fp16"), {}),
        ("fixed-step recording, ae-tiny-smooth 512² → 1080p, fp16",
         [*loop("ae-tiny-smooth", 512, "fp16", str(int(steps) // 3)), "--record", "--output-size", "1920x1080"], {}),
        (f"live at 60 Hz for {seconds} s, recording ae-tiny-smooth 512² → 1080p, fp16",
         [*loop("ae-tiny-smooth", 512, "fp16"), "--live", "--fps", "60", "--seconds", seconds, "--record",
          "--output-size", "1920x1080"], {}),
        (f"live at 60 Hz for {seconds} s, the whole fan-out: recording 1080p, projector 1080p, sender 720p, "
         f"ae-tiny-smooth 512², fp16",
         [*loop("ae-tiny-smooth", 512, "fp16"), "--live", "--fps", "60", "--seconds", seconds, "--record",
          "--output-size", "1920x1080", "--fan-out"], {}),
        ("PVM pvm-small learning in the loop", ["--model", "pvm-small", *LOOP, "--steps", steps, "--learn"], {}),
    ]


def precision_errors(size: int = 512) -> list[str]:
    """One step of ae-tiny-smooth's drives from the same input and state in fp16 and bf16 against fp32."""
    from app.models.checkpoint import load
    from app.sources import open_source

    frame = open_source("sample", size).read()
    image = torch.from_numpy(frame).float().div(255).permute(2, 0, 1)[None].cuda()
    lines = []
    with torch.inference_mode():
        reference = load("ae-tiny-smooth", "cuda").model
        states = reference.encode(image)
        want = reference.drives(image, states)
        for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
            model = load("ae-tiny-smooth", "cuda").model.to(dtype).to(memory_format=torch.channels_last)
            got = model.drives(image.to(dtype).contiguous(memory_format=torch.channels_last),
                               [s.to(dtype).contiguous(memory_format=torch.channels_last) for s in states])
            pred = (got.prediction.float() - want.prediction).abs()
            up = max(((g.float() - w).abs().max() / w.abs().max()).item() for g, w in zip(got.up, want.up))
            lines.append(f"{name}: prediction max |error| {pred.max().item():.4f}, RMS {pred.pow(2).mean().sqrt().item():.5f} "
                         f"(pixels in [0, 1]); bottom-up drives max error {up:.4f} of their range")
    return lines


def loop_precision_errors(size: int = 512, steps: tuple[int, ...] = (1, 10)) -> list[str]:
    """The whole step in fp16 and bf16 (model and hand-over textures in 16 bits) against fp32: the
    predicted frame after 1 and after 10 steps of ae-tiny-smooth from the same start."""
    from app.loop.engine import Engine
    from app.gl.context import headless_context
    from app.models.checkpoint import load
    from app.params import make_registry
    from app.sources import open_source

    ctx = headless_context()
    frames = {}
    for precision in ("fp32", "fp16", "bf16"):
        registry = make_registry()
        engine = Engine(ctx, registry, load("ae-tiny-smooth", "cuda"), open_source("sample", size), size, "cuda",
                        seed=1, precision=precision)
        for n in range(1, max(steps) + 1):
            engine.step()
            if n in steps:
                frames[precision, n] = engine.last_prediction
        engine.release()
    lines = []
    for precision in ("fp16", "bf16"):
        parts = []
        for n in steps:
            error = (frames[precision, n] - frames["fp32", n]).abs()
            parts.append(f"after {n} step{'s' if n > 1 else ''} max |error| {error.max().item():.4f}, "
                         f"RMS {error.pow(2).mean().sqrt().item():.5f}")
        lines.append(f"the whole loop in {precision} (16-bit textures): predicted frame " + "; ".join(parts))
    return lines


def interop_round_trip_ms(size: int = 512, rounds: int = 500) -> float:
    """A GL draw into a texture, its copy into torch, a CUDA op and the copy back, per round: the price
    of a GL → CUDA → GL hand-over through CUDA-GL interop."""
    from app.gl.context import headless_context
    from app.gl.interop import try_interop

    ctx = headless_context()
    transfer, why = try_interop(ctx, torch.device("cuda"))
    if transfer is None:
        print(f"CUDA-GL interop: {why}", flush=True)
        return float("nan")
    texture = ctx.texture((size, size), 4, dtype="f4")
    fbo = ctx.framebuffer(color_attachments=[texture])
    tensor = torch.zeros((size, size, 4), device="cuda")
    for i in range(rounds + 20):
        if i == 20:
            torch.cuda.synchronize()
            start = time.perf_counter()
        fbo.use()
        fbo.clear(0.1, 0.2, 0.3, 1.0)
        transfer.download_many([(texture, tensor)])
        tensor.mul_(0.5)
        transfer.upload_many([(texture, tensor)])
    ctx.finish()
    torch.cuda.synchronize()
    elapsed = (time.perf_counter() - start) * 1000.0 / rounds
    transfer.release()
    return elapsed


def run_bench(name: str, args: list[str], env: dict, out: Path) -> dict:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    path = out / f"{slug}.json"
    command = [sys.executable, "-m", "app", "bench", *args, "--json", str(path)]
    print(f"== {name}: {' '.join(command[2:])}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    print("\n".join(lines[-14:]), flush=True)
    if done.returncode != 0:
        print(done.stderr[-2000:], flush=True)
        return {"name": name, "error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    result = json.loads(path.read_text())
    shown = " ".join(["hypnagogia", "bench", *args])
    prefix = " ".join(f"{k}={v}" for k, v in env.items())
    return {"name": name, "command": f"{prefix} {shown}".strip(), "seconds": round(time.perf_counter() - started),
            **result}


def run_tests(out: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_gpu_loop.py"], cwd=ROOT,
                          capture_output=True, text=True)
    (out / "gpu-tests.txt").write_text(done.stdout + done.stderr)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no output"
    print(f"GPU tests: {summary}", flush=True)
    return summary


def table(results: list[dict]) -> str:
    rows = ["| configuration | steps/s | loop ms | model ms | loop / model | dropped | command |",
            "|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['name']} | failed: {r['error'][0]} | | | | | |")
            continue
        live = r.get("live") or {}
        dropped = f"{live.get('frames_dropped')} of {live.get('frames')} ({live.get('late_ticks')} late ticks)" \
            if live else ""
        fan_out = live.get("fan_out")
        if fan_out:
            sender = fan_out["sender"]
            dropped += (f"; projector drawn every frame; {sender['name']} {sender['frames_dropped']} of "
                        f"{sender['frames_written'] + sender['frames_dropped']}")
        rows.append(f"| {r['name']} | {r['steps_per_s']:,.0f} | {r['loop_ms']:.3f} | {r.get('model_ms', 0):.3f} | "
                    f"{r.get('loop_to_model') or ''} | {dropped} | `{r['command']}` |")
    return "\n".join(rows)


def machine(results: list[dict]) -> str:
    first = next((r for r in results if "error" not in r), {})
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA GPU"
    return (f"{gpu}, {os.cpu_count()} CPU cores; torch {torch.__version__} (CUDA {torch.version.cuda}); "
            f"OpenGL: {first.get('gl_renderer', '?')}; transfer: {first.get('transfer', '?')}")


def write_doc(results: list[dict], tests: str, extras: list[str]) -> None:
    section = "\n".join([BEGIN, "", f"Machine: {machine(results)}.", f"GPU tests (`tests/test_gpu_loop.py`): {tests}.",
                         "", table(results), "", *(f"- {line}" for line in extras), "", END])
    text = DOC.read_text()
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOC.write_text(text)
    print(f"wrote the table into {DOC}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and a 10 s live run")
    parser.add_argument("--out", default="runs/gpu-benchmark", help="folder for the JSON of each bench")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("scripts/gpu_benchmark.py needs a CUDA GPU; on the CPU run `hypnagogia bench --device cpu`")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tests = run_tests(out)
    extras = [f"GL → CUDA → GL round trip of a 512² float texture (draw, copy, op, copy back): "
              f"{interop_round_trip_ms():.3f} ms", *precision_errors(), *loop_precision_errors()]
    print("\n".join(extras), flush=True)
    results = [run_bench(name, bench_args, env, out) for name, bench_args, env in configurations(args.quick)]
    (out / "results.json").write_text(json.dumps({"results": results, "notes": extras}, indent=2) + "\n")
    write_doc(results, tests, extras)
    return 0


if __name__ == "__main__":
    sys.exit(main())
