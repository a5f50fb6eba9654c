"""How many PVM steps (and frames, with several streams) a device runs per second, learning or not, on
synthetic frames."""

from __future__ import annotations

import statistics
import time

import torch

from app.models.pvm.model import PVM
from app.models.pvm.spec import PVMSpec, load_spec
from app.models.pvm.wiring import count

CHUNKS = 5


def measure_steps_per_s(spec: PVMSpec | str, device: torch.device | str = "cpu", steps: int = 200,
                        learn: bool = True, seed: int = 0, streams: int = 1) -> dict:
    """Times `steps` steps of `streams` streams in CHUNKS equal chunks after a warm-up; with `learn`,
    every layer learns at the spec's initial rate (the developmental schedule would leave the upper
    layers idle at first). Returns the overall rate (in steps and in frames: steps × streams), the
    best and median chunk, and on the CPU the rate per second of this process's CPU time, which other
    busy processes on the machine disturb far less."""
    spec = load_spec(spec) if isinstance(spec, str) else spec
    device = torch.device(device)
    model = PVM(spec, device, seed=seed, streams=streams)
    model.learning = learn
    model.learning_rate = spec.initial_learning_rate
    generator = torch.Generator().manual_seed(seed)
    batch = (streams,) if streams > 1 else ()
    frames = torch.rand(8, *batch, 3, spec.frame_size, spec.frame_size, generator=generator).to(device)
    chunk = max(1, steps // CHUNKS)

    def run(n: int) -> tuple[float, float]:
        _sync(device)
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            model.step(frames[i % len(frames)])
        _sync(device)
        return time.perf_counter() - start, time.process_time() - cpu

    run(model.history + 2)                      # a full turn of the momentum ring, CUDA graphs captured
    timings = [run(chunk) for _ in range(CHUNKS)]
    seconds = sum(wall for wall, _ in timings)
    rates = sorted(chunk / wall for wall, _ in timings)
    counts = count(spec)
    result = {"device": str(device), "learn": learn, "streams": streams, "steps": chunk * CHUNKS,
              "seconds": round(seconds, 3), "steps_per_s": round(chunk * CHUNKS / seconds, 1),
              "frames_per_s": round(chunk * CHUNKS * streams / seconds, 1), "best_steps_per_s": round(rates[-1], 1),
              "median_steps_per_s": round(statistics.median(rates), 1), "units": counts.units,
              "weights": counts.weights, "frame_size": spec.frame_size}
    if device.type == "cpu":
        result["threads"] = torch.get_num_threads()
        result["steps_per_cpu_s"] = round(chunk * CHUNKS / sum(cpu for _, cpu in timings), 1)
    return result


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
