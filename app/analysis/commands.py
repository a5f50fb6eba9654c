"""``hypnagogia experiment NAME``: the seed experiments, reproduced as commands.

An experiment is a config dataclass (with a ``seed`` field and a ``quick(seed)`` constructor for a
small, fast version) and ``run(config, out, progress)``, which trains, measures, writes its figures
into ``out`` and returns a result with ``markdown()`` and ``to_dict()``. The command writes those
beside the figures as ``<name>.md`` and ``<name>.json``, with the run time. Adding an experiment is
adding a line to ``EXPERIMENTS``. Experiments on a trained PVM (``takes_model``) read ``--model`` and
``--device`` into their config's ``model`` and ``device`` fields, and their ``--seed`` is the seed of
the held-out clip.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

import torch

from app.analysis import inertia, pvm_dreams, pvm_lesions, rae_toy
from app.errors import UserError


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    help: str
    config: type
    run: Callable
    takes_model: bool = False


EXPERIMENTS = (
    Experiment("rae-toy", "Recurrent autoencoder toy (seed 002)",
               "AE, VAE, AE + Monte-Carlo chains and the recurrent AE as samplers of a paraboloid and a "
               "ring of 8 Gaussians: energy distances, mode coverage, sample clouds",
               rae_toy.RaeToyConfig, rae_toy.run),
    Experiment("inertia", "Representational inertia (seed 001)",
               "the β-VAE with representational inertia on circle-over-Gaussian sequences, γ = 0, 0.5, 1: "
               "next-frame error, dependence on the input, latent sweeps",
               inertia.InertiaConfig, inertia.run),
    Experiment("pvm-lesions", "PVM context lesions (seed 000)",
               "a trained PVM on held-out frames with all context, no feedback, no lateral context and neither: "
               "prediction error of the frame and of every layer",
               pvm_lesions.LesionsConfig, pvm_lesions.run_lesions, takes_model=True),
    Experiment("pvm-fill-in", "PVM filling in a blind spot (seed 000)",
               "a trained PVM on held-out frames with a gray or self-predicted central square: error of the "
               "predicted next frame against the true one inside and outside the square, intact and lesioned",
               pvm_lesions.FillInConfig, pvm_lesions.run_fill_in, takes_model=True),
    Experiment("pvm-static-dream", "PVM deep dream from a static frame (seed 000)",
               "a trained PVM shown one held-out frame, then deep-dreaming: per-step change and where the dream goes",
               pvm_dreams.StaticDreamConfig, pvm_dreams.run_static_dream, takes_model=True),
    Experiment("pvm-replay", "PVM dream replay (seed 000)",
               "a trained PVM records a pass through a held-out clip, then dreams from a frame of it: correlation "
               "of every recorded prediction with every dream frame",
               pvm_dreams.ReplayConfig, pvm_dreams.run_replay, takes_model=True),
)


def register(subparsers, add_common) -> None:
    """Adds ``experiment`` with one sub-command per experiment (they take none of the live options
    that ``add_common`` adds)."""
    parser = subparsers.add_parser("experiment", help="reproduce a seed experiment: train, measure, "
                                   "write tables and figures")
    experiments = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    for experiment in EXPERIMENTS:
        p = experiments.add_parser(experiment.name, help=experiment.help, description=experiment.help)
        p.add_argument("--out", type=Path, default=None,
                       help=f"folder for the tables and figures (default runs/{experiment.name})")
        if experiment.takes_model:
            p.add_argument("--model", required=True, help="the trained PVM: a name in models/ or a .safetensors path")
            p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                           help="where torch runs: auto takes CUDA, then MPS, else the CPU")
            p.add_argument("--seed", type=int, default=1, help="seed of the held-out clip (default 1; the sample "
                           "clip that `hypnagogia train pvm --source sample` reads is seed 0)")
        else:
            p.add_argument("--seed", type=int, default=0, help="seed of the data, the weights and the noise")
        p.add_argument("--quick", action="store_true", help="a small version that runs in seconds (for tests)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--threads", type=int, default=1,
                       help="torch CPU threads (default 1: the models are small, and on a busy CPU one thread "
                            "runs them many times faster than two)")
        p.set_defaults(run=partial(run_experiment, experiment), assignments=[])


def _output_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the tables and figures")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the folder {out}: {e.strerror}") from None
    return out


def _strict_json(value):
    """Non-finite numbers (a diverged sampler's distance) as null, which JSON can hold."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    return value


def _where(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"{platform.machine()} CPU, torch threads: {torch.get_num_threads()}"


def run_experiment(experiment: Experiment, args: argparse.Namespace) -> int:
    out = _output_folder(args.out or Path("runs") / experiment.name)
    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    config = experiment.config.quick(args.seed) if args.quick else experiment.config(seed=args.seed)
    device = torch.device("cpu")
    if experiment.takes_model:
        from app.engine import pick_device
        device = pick_device(args.device)
        config = replace(config, model=args.model, device=str(device))
    start = time.perf_counter()
    result = experiment.run(config, out, progress=not args.quiet)
    seconds = time.perf_counter() - start
    where = _where(device)
    table = result.markdown()
    md = out / f"{experiment.name.replace('-', '_')}.md"
    md.write_text(f"# {experiment.title}{' (quick)' if args.quick else ''}\n\n{table}\n"
                  f"Run time: {seconds:.0f} s ({where}).\n")
    data = {"experiment": experiment.name, "quick": args.quick, "seconds": seconds, "where": where,
            "command": " ".join(["hypnagogia", *sys.argv[1:]]), **result.to_dict()}
    (out / md.with_suffix(".json").name).write_text(
        json.dumps(_strict_json(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    print(table)
    print(f"{experiment.name}: {seconds:.0f} s; tables and figures in {out}")
    return 0
