"""Distributed training and the basin survey on 1, 2, 4 and 8 GPUs of one host: how they scale.

    python3 scripts/multi_gpu_scaling.py [--gpus 1,2,4,8] [--parts ae,pvm,survey] [--out DIR] [--work DIR] [--smoke]

Run it from the repository root on a host with several CUDA GPUs. For every n of --gpus (by default
1, 2, 4 and 8, those the host has), each command runs under
``python3 -m torch.distributed.run --nproc-per-node n`` on a free port of 127.0.0.1:

* ``train ae``: a fixed small model (widths 16,32,64,128, 128² crops) for the same number of steps
  at the same global batch, so every n learns from the same images and its loss is comparable:
  crops/s (over the whole run, and from the first logged step on, past the warm-up), speedup and
  scaling efficiency against n = 1, the final loss and the validation PSNR.
* ``train pvm --streams B``: pvm-small with B streams (a multiple of 2n for every n) for the same
  steps: frames learned per second against n = 1 and the final frame error. One process replays
  captured CUDA graphs; two or more step eagerly, since the sum over processes is a collective.
* ``attractors --starts 1024`` of ae-tiny-smooth: the survey dreams on the CPUs (gloo), so n is a
  count of processes there: wall time against n = 1, and whether report.json is the same as n = 1's
  (its summary, its attractors with their basins, and every start's verdict).

Every process gets NVLink multicast off (NCCL_NVLS_ENABLE=0, TORCH_SYMM_MEM_DISABLE_MULTICAST=1,
NVSHMEM_DISABLE_NVLS=1) and OMP_NUM_THREADS of its share of the CPU cores. Runs go n by n (all parts
at n = 1, then at n = 2, …), and multi_gpu_scaling.json and multi_gpu_scaling.md in --out are
rewritten after each run, so the script cut short keeps what it measured. A run that fails or outlasts
--run-timeout is recorded with its one-line error and the others go on. The runs' logs, models and
reports go to --work.

``--smoke`` runs all of it on the CPUs with gloo, tiny sizes and n = 1 and 2, in about a minute,
to check that it runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
GPUS = (1, 2, 4, 8)
PARTS = ("ae", "pvm", "survey")
NO_MULTICAST = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
AE_SMOKE = ["--data", "sample", "--dream-pool", "8", "--dream-steps", "1", "--follow-steps", "2",
                   "--recurrent-passes", "1"]
TINY_SPEC = {"layer_shapes": [4, 2, 1], "input_block_size": 4, "hidden_block_size": 3, "initial_learning_rate": 0.05,
             "final_learning_rate": 0.01, "delay_each_layer_learning": 50, "delay_final_learning_rate": 200,
             "enable_lateral_at": 0, "enable_feedback_at": 0}


class Settings:
    """What the runs measure with: the full runs on GPUs, or tiny ones on the CPUs (--smoke)."""

    def __init__(self, args: argparse.Namespace, work: Path):
        smoke = args.smoke
        self.smoke, self.work = smoke, work
        self.device, self.backend = ("cpu", "gloo") if smoke else ("cuda", "nccl")
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.timeout = args.run_timeout or (120 if smoke else 240)
        self.ae_widths, self.ae_size = ("4,8", 32) if smoke else ("16,32,64,128", 128)
        self.ae_batch = args.batch or (4 if smoke else 64)
        self.ae_steps = args.ae_steps or (30 if smoke else 60)
        self.ae_extra = AE_SMOKE if smoke else []
        self.streams = args.streams or (4 if smoke else 16)
        self.pvm_steps = args.pvm_steps or (300 if smoke else 5000)
        if smoke:
            tiny = work / "pvm-tiny.json"
            tiny.write_text(json.dumps(TINY_SPEC))
            self.pvm_spec = str(tiny)
        else:
            self.pvm_spec = "pvm-small"
        self.starts = args.starts or (32 if smoke else 1024)
        self.survey_steps = args.survey_steps or (200 if smoke else 100)
        self.survey_size = args.survey_size or 32

    def describe(self) -> dict:
        return {"device": self.device, "backend": self.backend, "smoke": self.smoke, "cpu_cores": self.cores,
                "run_timeout_s": self.timeout,
                "ae": {"widths": self.ae_widths, "size": self.ae_size, "global_batch": self.ae_batch,
                       "steps": self.ae_steps, "images": self.ae_batch * self.ae_steps},
                "pvm": {"spec": self.pvm_spec, "source": "sample", "streams": self.streams, "steps": self.pvm_steps},
                "survey": {"model": "ae-tiny-smooth", "starts": self.starts, "steps": self.survey_steps,
                           "size": self.survey_size, "backend": "gloo (the survey dreams on the CPUs)"}}


# ---- running one command under torchrun --------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(s: Settings, n: int) -> dict:
    return {**os.environ, **NO_MULTICAST, "OMP_NUM_THREADS": str(max(1, s.cores // n))}


def torchrun(s: Settings, n: int, name: str, args: list[str]) -> dict:
    """``hypnagogia ARGS`` under torchrun with n processes; its output in --work/logs/NAME.log. Returns
    the wall time and, where it failed, the one-line error."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-addr",
               "127.0.0.1", "--master-port", str(free_port()), "-m", "app", *args]
    log = s.work / "logs" / f"{name}.log"
    shown = f"torchrun --nproc-per-node {n} -m app {' '.join(args)}"
    print(f"== {shown}", flush=True)
    started = time.perf_counter()
    with log.open("w") as out:
        # its own session, so that a run past the timeout is stopped with every process torchrun started
        child = subprocess.Popen(command, cwd=ROOT, env=child_env(s, n), stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            code = child.wait(timeout=s.timeout)
        except subprocess.TimeoutExpired:
            stop(child)
            code = None
        except BaseException:       # Ctrl-C, or SIGTERM to this script: the run's processes go too
            stop(child)
            raise
    wall = round(time.perf_counter() - started, 1)
    run = {"gpus": n, "command": shown, "wall_s": wall, "log": str(log)}
    if code is None:
        run["error"] = f"timed out after {s.timeout} s (--run-timeout)"
    elif code != 0:
        run["error"] = first_error(log.read_text(errors="replace"), code)
    return run


def stop(child: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(child.pid, sig)
            child.wait(timeout=grace)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def stopped(signum, frame) -> None:
    raise SystemExit(f"stopped by signal {signum}; {Path(sys.argv[0]).name} kept the runs done so far")


def first_error(text: str, code: int) -> str:
    """The line that says why a run failed: the command's own error, else the last exception a process
    raised (not torchrun's report of the failed ranks), else the exit status."""
    lines = [re.sub(r"^\[(default)?rank\d+\]:\s*", "", line.strip()) for line in text.splitlines() if line.strip()]
    for line in lines:
        if re.match(r"hypnagogia[\w ]*: error", line):
            return line[:300]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Interrupt)\b.*:", line) and "ChildFailedError" not in line:
            return line[:300]
    return f"exit status {code}"


def fresh(*paths: Path) -> None:
    """Leftovers of an earlier run under the same name removed, so nothing stale is read as this run's."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# ---- the three parts ----------------------------------------------------------------------------
def ae_run(s: Settings, n: int) -> dict:
    name = f"ae-{n}"
    runs, models = s.work / "runs", s.work / "models"
    fresh(runs / name, models / f"{name}.json", models / f"{name}.safetensors")
    run = torchrun(s, n, name, [
        "train", "ae", "--device", s.device, "--backend", s.backend, "--widths", s.ae_widths, "--size",
        str(s.ae_size), "--batch", str(s.ae_batch), "--steps", str(s.ae_steps), "--check-seeds", "0",
        "--snapshot-minutes", "1000", "--seed", "0", *s.ae_extra, "--name", name, "--runs-dir", str(runs),
        "--models-dir", str(models)])

    def read() -> dict:
        card = json.loads((models / f"{name}.json").read_text())
        t = card["training"]
        images = t["steps"] * t["global_batch"]
        return dict(processes=t["processes"], global_batch=t["global_batch"], batch_per_process=t["batch_per_process"],
                    steps=t["steps"], images=images, seconds=t["seconds"], images_per_s=round(images / t["seconds"], 1),
                    images_per_s_warm=warm_rate(runs / name, t["global_batch"]), loss=card["losses"]["total"],
                    image_loss=card["losses"]["image"], psnr_db=card["validation"]["psnr_db"])
    return finished(run, read)


def warm_rate(run_dir: Path, batch: int) -> float | None:
    """Crops a second from the first logged step to the last: the rate past the first steps' warm-up."""
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    if len(rows) < 2 or rows[-1]["seconds"] <= rows[0]["seconds"]:
        return None
    return round((rows[-1]["step"] - rows[0]["step"]) * batch / (rows[-1]["seconds"] - rows[0]["seconds"]), 1)


def pvm_run(s: Settings, n: int) -> dict:
    name = f"pvm-{n}"
    runs, models = s.work / "runs", s.work / "models"
    fresh(runs / name, models / f"{name}.json", models / f"{name}.safetensors")
    run = torchrun(s, n, name, [
        "train", "pvm", "--spec", s.pvm_spec, "--source", "sample", "--streams", str(s.streams), "--steps",
        str(s.pvm_steps), "--device", s.device, "--backend", s.backend, "--snapshot-every", str(10 * s.pvm_steps),
        "--seed", "0", "--name", name, "--runs-dir", str(runs), "--models-dir", str(models)])

    def read() -> dict:
        card = json.loads((models / f"{name}.json").read_text())
        each = (card.get("processes") or {}).get("streams_each", card["streams"])
        return dict(streams=card["streams"], streams_each=each, steps=card["steps"], frames_seen=card["frames_seen"],
                    seconds=card["seconds"], frames_per_s=card["frames_per_s"], steps_per_s=card["steps_per_s"],
                    final_error=card["final_error"][0],
                    stepping="captured CUDA graphs" if s.device == "cuda" and n == 1 else "eager")
    return finished(run, read)


def survey_run(s: Settings, n: int) -> dict:
    name = f"survey-{n}"
    out = s.work / name
    fresh(out)
    run = torchrun(s, n, name, ["attractors", "--model", "ae-tiny-smooth", "--starts", str(s.starts), "--steps",
                                str(s.survey_steps), "--size", str(s.survey_size), "--seed", "0", "--out", str(out)])

    def read() -> dict:
        summary = json.loads((out / "report.json").read_text())["summary"]
        return dict(report=str(out / "report.json"), starts=summary["starts"], seconds=summary["seconds"],
                    starts_per_s=round(summary["starts"] / max(summary["seconds"], 1e-9), 2),
                    attractors=summary["distinct_attractors"], basin_shares=summary["basin_shares"],
                    fixed_points=summary["fixed_points"], cycles=summary["cycles"], wandering=summary["wandering"])
    return finished(run, read)


def finished(run: dict, read) -> dict:
    """The run with the figures ``read()`` takes from its files, or with the one line saying why they could not be."""
    if "error" in run:
        return run
    try:
        run.update(read())
    except (OSError, KeyError, IndexError, TypeError, ValueError) as e:
        run["error"] = f"ended, but its results could not be read ({type(e).__name__}: {e})"
    return run


RUNNERS = {"ae": ae_run, "pvm": pvm_run, "survey": survey_run}


# ---- against n = 1 ------------------------------------------------------------------------------
def against_one(part: str, run: dict, one: dict | None) -> None:
    """Speedup and efficiency against the n = 1 run of the part, and whether the results agree with it."""
    if "error" in run or one is None or "error" in one:
        return
    n = run["gpus"]
    if part == "ae":
        basis = "images_per_s_warm" if run["images_per_s_warm"] and one["images_per_s_warm"] else "images_per_s"
        speedup = run[basis] / one[basis]
        run.update(rate_compared=basis, loss_minus_one=round(run["loss"] - one["loss"], 6),
                   psnr_minus_one_db=round(run["psnr_db"] - one["psnr_db"], 2))
    elif part == "pvm":
        speedup = run["frames_per_s"] / one["frames_per_s"]
        run["error_minus_one"] = round(run["final_error"] - one["final_error"], 6)
    else:
        speedup = one["seconds"] / run["seconds"]
        run["wall_speedup"] = round(one["wall_s"] / run["wall_s"], 2)
        run["same_report_as_one"], run["differences"] = same_report(Path(one["report"]), Path(run["report"]))
    run.update(speedup=round(speedup, 3), efficiency=round(speedup / n, 3))


def same_report(one: Path, other: Path) -> tuple[bool, list[str]]:
    a, b = json.loads(one.read_text()), json.loads(other.read_text())
    differences = []
    plain = lambda summary: {k: v for k, v in summary.items() if k not in ("seconds", "model")}  # noqa: E731
    sa, sb = plain(a["summary"]), plain(b["summary"])
    differences += [f"{k}: {sa.get(k)} against {sb.get(k)}" for k in sorted(set(sa) | set(sb))
                    if sa.get(k) != sb.get(k)]
    if a["attractors"] != b["attractors"]:
        differences.append("the attractors' members or representatives differ")
    verdicts = sum(x != y for x, y in zip(a["starts"], b["starts"])) + abs(len(a["starts"]) - len(b["starts"]))
    if verdicts:
        differences.append(f"{verdicts} starts' verdicts or attractors differ")
    return not differences, differences


# ---- what is printed and written ----------------------------------------------------------------
def line(part: str, run: dict) -> str:
    head = f"{part:6} n={run['gpus']}:"
    if "error" in run:
        return f"{head} failed after {run['wall_s']} s: {run['error']}"
    vs = f" ({run['speedup']:.2f}× n = 1, efficiency {run['efficiency']:.0%})" if "speedup" in run else ""
    if part == "ae":
        warm = f", {run['images_per_s_warm']:,.0f} past warm-up" if run["images_per_s_warm"] else ""
        return (f"{head} {run['images_per_s']:,.0f} crops/s{warm}{vs}; loss {run['loss']:.4f}, "
                f"{run['psnr_db']:.2f} dB after {run['images']:,} crops; {run['wall_s']} s wall")
    if part == "pvm":
        return (f"{head} {run['frames_per_s']:,.0f} frames/s{vs}, {run['steps_per_s']:,.0f} steps/s "
                f"({run['stepping']}); frame error {run['final_error']:.4f}; {run['wall_s']} s wall")
    same = ""
    if "same_report_as_one" in run:
        same = "; same report as n = 1" if run["same_report_as_one"] else \
            f"; differs from n = 1: {'; '.join(run['differences'])}"
    return (f"{head} {run['starts']} starts in {run['seconds']} s{vs}, {run['wall_s']} s wall; {run['attractors']} "
            f"attractors, basin shares {run['basin_shares'][:6]}{same}")


def cell(value, spec: str = ",.0f") -> str:
    return "" if value is None else format(value, spec)


def vs_one(run: dict) -> str:
    return " | ".join([cell(run.get("speedup"), ".2f") + ("×" if "speedup" in run else ""),
                       cell(run.get("efficiency"), ".0%")])


def markdown(results: dict) -> str:
    s = results["settings"]
    lines = [f"Machine: {results['machine']}; torch {results['torch']}"
             f"{'; NCCL ' + results['nccl'] if results.get('nccl') else ''}; {s['cpu_cores']} CPU cores. "
             f"{results['seconds']:.0f} s in all.", ""]
    ae, pvm, survey = (results["runs"].get(part) for part in PARTS)
    if ae is not None:
        a = s["ae"]
        lines += [f"### `train ae --widths {a['widths']} --size {a['size']} --batch {a['global_batch']} --steps "
                  f"{a['steps']}` under torchrun ({a['images']:,} crops at every n)", "",
                  "| GPUs | crops a process | crops/s | crops/s past warm-up | speedup | efficiency | loss | image "
                  "loss | PSNR dB |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in ae:
            lines.append(failed_row(r, 9) if "error" in r else
                         f"| {r['gpus']} | {r['batch_per_process']} | {cell(r['images_per_s'])} | "
                         f"{cell(r['images_per_s_warm'])} | {vs_one(r)} | {r['loss']:.4f} | {r['image_loss']:.4f} | "
                         f"{r['psnr_db']:.2f} |")
        lines += ["", "Speedup from the crops/s past warm-up (from the first logged step, 25, to the last); loss: "
                      "the card's running mean of the total loss at the end.", ""]
    if pvm is not None:
        p = s["pvm"]
        lines += [f"### `train pvm --spec {p['spec']} --streams {p['streams']} --steps {p['steps']}` under torchrun",
                  "", "| GPUs | streams a process | stepping | frames/s | steps/s | speedup | efficiency | frame "
                  "error |", "|---:|---:|---|---:|---:|---:|---:|---:|"]
        for r in pvm:
            lines.append(failed_row(r, 8) if "error" in r else
                         f"| {r['gpus']} | {r['streams_each']} | {r['stepping']} | {cell(r['frames_per_s'])} | "
                         f"{cell(r['steps_per_s'])} | {vs_one(r)} | {r['final_error']:.4f} |")
        lines += ["", "Frames/s over the whole run (the capture of the graphs included where there are any).", ""]
    if survey is not None:
        v = s["survey"]
        lines += [f"### `attractors --model {v['model']} --starts {v['starts']} --steps {v['steps']} --size "
                  f"{v['size']}` under torchrun (on the CPUs, gloo)", "",
                  "| processes | survey s | wall s | starts/s | speedup | efficiency | attractors | largest basins "
                  "| same report as 1 |", "|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        for r in survey:
            same = "" if "same_report_as_one" not in r else ("yes" if r["same_report_as_one"] else
                                                            "no: " + "; ".join(r["differences"]))
            lines.append(failed_row(r, 9) if "error" in r else
                         f"| {r['gpus']} | {r['seconds']} | {r['wall_s']} | {r['starts_per_s']:.2f} | {vs_one(r)} | "
                         f"{r['attractors']} | {', '.join(f'{x:.1%}' for x in r['basin_shares'][:4])} | {same} |")
        lines += ["", "Survey s: the report's own time (the dreams and the clustering); wall: the whole command, "
                      "torchrun's start included. Speedup from the survey s.", ""]
    return "\n".join(lines)


def failed_row(run: dict, columns: int) -> str:
    return f"| {run['gpus']} | failed: {run['error'].replace('|', '/')} |" + " |" * (columns - 2)


def machine(s: Settings) -> tuple[str, str | None]:
    if s.device == "cpu":
        return "CPU (smoke)", None
    count = torch.cuda.device_count()
    nccl = ".".join(map(str, torch.cuda.nccl.version())) if torch.distributed.is_nccl_available() else None
    return f"{count} × {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})", nccl


def gpu_counts(text: str | None, smoke: bool) -> list[int]:
    if smoke:
        wanted = [int(x) for x in text.split(",")] if text else [1, 2]
        return wanted
    have = torch.cuda.device_count()
    if not text:
        return [n for n in GPUS if n <= have]
    wanted = [int(x) for x in text.split(",")]
    if max(wanted) > have:
        sys.exit(f"--gpus {text}: this host has {have} CUDA GPU(s); list counts up to {have}")
    return wanted


def check(s: Settings, counts: list[int]) -> None:
    """Every n must split the global batch and hold two streams or more: said before anything runs."""
    every = math.lcm(*counts)
    for n in counts:
        if s.ae_batch % n:
            sys.exit(f"--batch {s.ae_batch} does not split over {n} processes; pass a multiple of {every}")
        if s.streams % n or s.streams // n < 2:
            sys.exit(f"--streams {s.streams} does not give {n} processes two streams or more each; pass a multiple "
                     f"of {2 * every}")


def parse_counts(text: str) -> str:
    if not re.fullmatch(r"\d+(,\d+)*", text) or "0" in text.split(","):
        raise argparse.ArgumentTypeError(f"{text}: give counts of GPUs separated by commas, e.g. 1,2,4")
    return text


def positive(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text}: give a whole number above 0")
    return int(text)


def parse_parts(text: str) -> list[str]:
    parts = text.split(",")
    if not parts or any(p not in PARTS for p in parts):
        raise argparse.ArgumentTypeError(f"{text}: give parts of {','.join(PARTS)} separated by commas")
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=parse_counts, default=None,
                        help="counts of GPUs (processes) to run at, e.g. 1,2 (default 1,2,4,8 up to the host's)")
    parser.add_argument("--parts", type=parse_parts, default=list(PARTS), help="ae,pvm,survey (default all)")
    parser.add_argument("--out", default="runs/multi-gpu-scaling", help="folder for multi_gpu_scaling.json and .md")
    parser.add_argument("--work", default="/tmp/multi-gpu-scaling", help="folder for the runs' logs, models, reports")
    parser.add_argument("--batch", type=positive, default=None, help="train ae's global batch (default 64)")
    parser.add_argument("--ae-steps", type=positive, default=None, help="train ae's steps (default 60)")
    parser.add_argument("--streams", type=positive, default=None, help="train pvm's streams, in all (default 16)")
    parser.add_argument("--pvm-steps", type=positive, default=None, help="train pvm's steps (default 5000)")
    parser.add_argument("--starts", type=positive, default=None, help="the survey's starts (default 1024)")
    parser.add_argument("--survey-steps", type=positive, default=None, help="dream steps per start (default 100)")
    parser.add_argument("--survey-size", type=positive, default=None, help="the survey's dream size (default 32)")
    parser.add_argument("--run-timeout", type=positive, default=None, help="seconds one run may take (default 240)")
    parser.add_argument("--smoke", action="store_true", help="tiny settings on the CPUs with gloo: check that it runs")
    args = parser.parse_args()
    if not args.smoke and not torch.cuda.is_available():
        sys.exit("scripts/multi_gpu_scaling.py needs CUDA GPUs; --smoke runs tiny settings on the CPUs")
    os.environ.update(NO_MULTICAST)
    signal.signal(signal.SIGTERM, stopped)
    out, work = Path(args.out), Path(args.work)
    for folder in (out, work, work / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    s = Settings(args, work)
    counts = gpu_counts(args.gpus, args.smoke)
    check(s, counts)
    name, nccl = machine(s)
    results = {"machine": name, "torch": torch.__version__, "nccl": nccl, "gpus": counts,
               "environment": {**NO_MULTICAST, "OMP_NUM_THREADS": f"{s.cores} // n"}, "settings": s.describe(),
               "runs": {part: [] for part in args.parts}, "seconds": 0.0}
    started = time.perf_counter()
    for n in counts:
        for part in args.parts:
            run = RUNNERS[part](s, n)
            done = results["runs"][part]
            against_one(part, run, next((r for r in done if r["gpus"] == 1), None))
            done.append(run)
            print(line(part, run), flush=True)
            results["seconds"] = round(time.perf_counter() - started, 1)
            (out / "multi_gpu_scaling.json").write_text(json.dumps(results, indent=2) + "\n")
            (out / "multi_gpu_scaling.md").write_text(markdown(results))
    print("\n" + markdown(results), flush=True)
    print(f"wrote {out / 'multi_gpu_scaling.json'} and {out / 'multi_gpu_scaling.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
