"""``hypnagogia experiment NAME``: the seed experiments of ``app.experiments.registry`` as commands.

The command writes each result's ``markdown()`` and ``to_dict()`` beside its figures as ``<name>.md``
and ``<name>.json``, with the run time. For experiments on a trained PVM ``--seed`` is the seed of the
held-out clip.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

from app.commands.args import add_device
from app.errors import UserError
from app.experiments.registry import EXPERIMENTS, Experiment
from app.resources import runs_dir


FED_BACK = ("pvm-static-dream", "pvm-replay")     # the experiments that feed the dreamed frame back


def register(sub) -> None:
    """Adds ``experiment`` with one sub-command per experiment (they take none of the live options
    that ``add_common`` adds)."""
    parser = sub.add_parser("experiment", help="reproduce a seed experiment: train, measure, "
                                   "write tables and figures")
    experiments = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    for experiment in EXPERIMENTS:
        p = experiments.add_parser(experiment.name, help=experiment.help, description=experiment.help)
        p.add_argument("--out", type=Path, default=None,
                       help=f"folder for the tables and figures (default "
                            f"{str(runs_dir() / experiment.name).replace('%', '%%')})")
        if experiment.takes_model:
            p.add_argument("--model", required=True, help="the trained model (a PVM for the pvm-* experiments): a "
                           "name in models/ or a .safetensors path")
            add_device(p)
            p.add_argument("--seed", type=int, default=1, help="seed of the held-out clip (default 1), rendered "
                           "as long and as fast as the shipped PVMs' training clip (seed 2)")
            if experiment.name in FED_BACK:
                p.add_argument("--feed-lag", type=int, default=0, metavar="STEPS",
                               help="steps late the dreamed frame is fed back (default 0; the original PVM's "
                                    "feed is 2 steps late in this step order: docs/experiments.md)")
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


def _where(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"{platform.machine()} CPU, torch threads: {torch.get_num_threads()}"


def run_experiment(experiment: Experiment, args: argparse.Namespace) -> int:
    import torch

    out = _output_folder(args.out or runs_dir() / experiment.name)
    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    config = experiment.config.quick(args.seed) if args.quick else experiment.config(seed=args.seed)
    device = torch.device("cpu")
    if experiment.takes_model:
        from app.loop.device import pick_device
        device = pick_device(args.device)
        config = replace(config, model=args.model, device=str(device))
        if experiment.name in FED_BACK:
            if args.feed_lag < 0:
                raise UserError(f"--feed-lag must be 0 or more steps, got {args.feed_lag}")
            config = replace(config, feed_lag=args.feed_lag)
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
