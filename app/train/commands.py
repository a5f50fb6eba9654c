"""``hypnagogia train ae`` and ``hypnagogia dreamcheck``."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

from app import MODEL_DIR, ROOT
from app.errors import UserError

DEFAULT_WIDTHS = (16, 32, 64, 128)
CHECK_SIZE, CHECK_STEPS, CHECK_SEEDS = 256, 300, 4
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def register(subparsers, add_common) -> None:
    from app.cli import OneLineParser, positive_int, positive_size

    train = subparsers.add_parser("train", help="train a model (see `hypnagogia train ae --help`)")
    kinds = train.add_subparsers(dest="kind", parser_class=OneLineParser, metavar="KIND", required=True)
    ae = kinds.add_parser("ae", help="train a dreaming conv autoencoder and export it to models/NAME",
                          description="Train a conv autoencoder to reconstruct images and to dream natural-"
                                      "looking ones in the app's loop; export models/NAME.safetensors + .json.")
    ae.add_argument("--name", default="ae-custom", help="model name: writes models/NAME.safetensors and its "
                    ".json card; pictures and the resumable state go to runs/NAME/ (default ae-custom)")
    ae.add_argument("--widths", default=None, help="channels of the feature layers, e.g. 16,32,64,128 "
                    f"(default {','.join(map(str, DEFAULT_WIDTHS))}); each layer halves the resolution")
    ae.add_argument("--activation", default="gelu", choices=("gelu", "relu", "elu", "silu"),
                    help="hidden activation inside encoders and decoders (default gelu)")
    ae.add_argument("--steps", type=positive_int, default=2000, help="training steps in all (default 2000)")
    ae.add_argument("--minutes", type=positive_float, default=None, metavar="M", help="stop after this many minutes "
                    "even if --steps are not done (the learning-rate schedule then follows the clock)")
    ae.add_argument("--size", type=positive_size, default=128, help="crop size in pixels (default 128)")
    ae.add_argument("--batch", type=positive_int, default=16, help="crops per step (default 16)")
    ae.add_argument("--lr", type=positive_float, default=2e-3, help="peak Adam learning rate (default 2e-3)")
    ae.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                    help="where torch trains: auto takes CUDA, then MPS, else the CPU")
    data = ae.add_mutually_exclusive_group()
    data.add_argument("--data", default=None, metavar="PATH",
                      help="train on a video file, an image or a folder of images (default: the photos bundled "
                           "with scikit-image, scikit-learn and matplotlib)")
    data.add_argument("--webcam", type=positive_float, default=None, metavar="S",
                      help="record S seconds of the webcam, then train on them")
    ae.add_argument("--resume", default=None, metavar="CKPT", help="continue from runs/NAME/state.pt (all "
                    "state) or start from the weights of a models/*.safetensors checkpoint")
    ae.add_argument("--recurrent-passes", type=_count, default=4, metavar="N",
                    help="loop steps of the recurrent loss, each with latent noise (default 4; 0 = off)")
    ae.add_argument("--latent-noise", type=_nonnegative_float, default=0.2, metavar="SIGMA",
                    help="std of the noise added to every layer's state in the recurrent loss (default 0.2)")
    ae.add_argument("--latent-penalty", type=_nonnegative_float, default=0.03, metavar="W",
                    help="weight of the mean square of the latent states (default 0.03)")
    ae.add_argument("--dream-weight", type=_nonnegative_float, default=1.0, metavar="W",
                    help="weight of the dream loss: patch statistics of dreams against photo crops (default "
                         "1; 0 = off)")
    ae.add_argument("--dream-steps", type=positive_int, default=3, metavar="N",
                    help="loop steps each pooled dream runs per training step (default 3)")
    ae.add_argument("--dream-pool", type=positive_int, default=256, metavar="N",
                    help="dreams kept in progress (default 256)")
    ae.add_argument("--dream-restart", type=_probability, default=0.01, metavar="P",
                    help="chance that a pooled dream restarts from noise when taken (default 0.01: dreams "
                         "live about 300 loop steps)")
    ae.add_argument("--dream-match", choices=("batch", "image"), default="batch",
                    help="compare the dreams' patches together with the photos' (batch), or each dream's "
                         "with the photos' (image) (default batch)")
    ae.add_argument("--follow-weight", type=_nonnegative_float, default=1.0, metavar="W",
                    help="weight of the follow loss: the loop watching a still image settles on it instead of "
                         "flickering (default 1; 0 = off)")
    ae.add_argument("--follow-steps", type=positive_int, default=8, metavar="N",
                    help="loop steps of the follow loss; the second half is scored (default 8)")
    ae.add_argument("--snapshot-minutes", type=positive_float, default=3.0, metavar="M",
                    help="minutes between picture grids and saved state (default 3)")
    ae.add_argument("--check-seeds", type=_count, default=CHECK_SEEDS, metavar="N",
                    help=f"dreams from noise measured for the card ({CHECK_STEPS} steps at {CHECK_SIZE}², "
                         f"default {CHECK_SEEDS}; 0 = skip)")
    ae.add_argument("--seed", type=int, default=0, help="seed of weights, crops and dreams")
    ae.add_argument("--models-dir", default=str(MODEL_DIR), metavar="DIR",
                    help="where the model is exported (default models/)")
    ae.add_argument("--runs-dir", default=str(ROOT / "runs"), metavar="DIR",
                    help="where run folders go (default runs/)")
    ae.set_defaults(run=train_ae, assignments=[])

    check = subparsers.add_parser("dreamcheck", help="dream from noise through the engine; print how natural "
                                  "the end frames are, and the validation PSNR")
    add_common(check, size=CHECK_SIZE)
    check.add_argument("--steps", type=positive_int, default=CHECK_STEPS,
                       help=f"full-dream steps from noise (default {CHECK_STEPS})")
    check.add_argument("--seeds", type=positive_int, default=CHECK_SEEDS,
                       help=f"dreams, seeded --seed, --seed+1, … (default {CHECK_SEEDS})")
    check.add_argument("--out", default=str(ROOT / "runs" / "dreamcheck"),
                       help="folder for the PNGs of end frames and reconstructions (default runs/dreamcheck)")
    check.add_argument("--json", default=None, help="also write the figures here")
    check.set_defaults(run=dreamcheck)


def _number(text: str, kind, check, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not check(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
    return value


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < float("inf"), "positive")


def _nonnegative_float(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v < float("inf"), "zero or positive")


def _probability(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v <= 1, "between 0 and 1")


def _count(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "zero or a positive whole number")


def parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if not widths or any(w < 1 or w > 1024 for w in widths) or len(widths) > 8:
        raise UserError(f"--widths {text}: give 1 to 8 comma-separated channel counts from 1 to 1024, "
                        f"e.g. 16,32,64,128")
    return widths


# ---- train ae ----------------------------------------------------------------------------------
def train_ae(args) -> int:
    from app.engine import pick_device
    from app.train import data, trainer

    if not NAME.fullmatch(args.name):
        raise UserError(f"--name {args.name!r}: use letters, digits, '.', '_' and '-' (e.g. ae-mine)")
    widths, activation = _architecture(args)
    if args.size % (1 << len(widths)):
        raise UserError(f"--size {args.size}: a model of {len(widths)} layers needs a multiple of "
                        f"{1 << len(widths)}")
    if args.resume is not None and not Path(args.resume).is_file():
        raise UserError(f"--resume {args.resume}: no such file; pass runs/NAME/state.pt or a .safetensors model")
    device = pick_device(args.device)
    if args.webcam is not None:
        frames = data.from_webcam(args.webcam, args.batch)
    elif args.data is not None:
        frames = data.from_path(args.data, args.batch)
    else:
        frames = data.bundled()
    config = trainer.TrainConfig(
        name=args.name, widths=widths, activation=activation, steps=args.steps, minutes=args.minutes,
        size=args.size,
        batch=args.batch, lr=args.lr, recurrent_passes=args.recurrent_passes, latent_noise=args.latent_noise,
        latent_penalty=args.latent_penalty, dream_weight=args.dream_weight, dream_steps=args.dream_steps,
        dream_batch=args.batch, dream_pool=args.dream_pool, dream_restart=args.dream_restart,
        dream_match=args.dream_match, follow_weight=args.follow_weight, follow_steps=args.follow_steps,
        snapshot_minutes=args.snapshot_minutes,
        seed=args.seed, command=_train_command(args, widths, activation))
    run_dir = Path(args.runs_dir) / args.name
    job = trainer.Trainer(config, frames, device, run_dir, resume=Path(args.resume) if args.resume else None)
    result = job.run()
    dreams = _card_dreams(result.model, args.name, device, args.check_seeds, run_dir)
    path = trainer.export(result.model, Path(args.models_dir) / args.name,
                          trainer.card(config, frames, result, device, dreams))
    print(f"{args.name}: validation PSNR {result.psnr:.2f} dB at {data.VALIDATION_SIZE}², "
          f"{result.seconds / 60:.1f} min; wrote {path} and {path.with_suffix('.json')}")
    if dreams.get("frames"):
        print(_table(dreams["frames"], dreams["seeds"]))
    return 0


def _architecture(args) -> tuple[tuple[int, ...], str]:
    if args.resume and Path(args.resume).is_file():
        widths, activation = _resumed_architecture(Path(args.resume))
        if args.widths is not None and parse_widths(args.widths) != widths:
            raise UserError(f"--widths {args.widths} differs from the checkpoint's {','.join(map(str, widths))}; "
                            f"drop --widths to resume")
        return widths, activation
    return (parse_widths(args.widths) if args.widths is not None else DEFAULT_WIDTHS), args.activation


def _resumed_architecture(path: Path) -> tuple[tuple[int, ...], str]:
    if path.suffix == ".safetensors":
        from app.models.checkpoint import read_card
        config = read_card(path).get("architecture", {}).get("config", {})
    else:
        import torch
        try:
            config = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many kinds for a bad file
            raise UserError(f"--resume {path}: not a training state ({type(e).__name__}); pass runs/NAME/"
                            f"state.pt or a models/*.safetensors checkpoint") from None
    if "widths" not in config:
        raise UserError(f"--resume {path}: it records no architecture; pass a file written by `hypnagogia train`")
    return tuple(int(w) for w in config["widths"]), config.get("activation", "gelu")


def _train_command(args, widths, activation) -> str:
    parts = ["hypnagogia", "train", "ae", "--name", args.name, "--widths", ",".join(map(str, widths)),
             "--activation", activation, "--steps", args.steps, "--size", args.size, "--batch", args.batch,
             "--lr", args.lr, "--recurrent-passes", args.recurrent_passes, "--latent-noise", args.latent_noise,
             "--latent-penalty", args.latent_penalty, "--dream-weight", args.dream_weight,
             "--dream-steps", args.dream_steps, "--dream-pool", args.dream_pool,
             "--dream-restart", args.dream_restart, "--dream-match", args.dream_match,
             "--follow-weight", args.follow_weight, "--follow-steps", args.follow_steps, "--seed", args.seed,
             "--device", args.device]
    for flag, value in (("--minutes", args.minutes), ("--data", args.data), ("--webcam", args.webcam),
                        ("--resume", args.resume)):
        if value is not None:
            parts += [flag, value]
    return shlex.join(str(p) for p in parts)


def _card_dreams(model, name: str, device, seeds: int, run_dir: Path) -> dict:
    """Dream figures for the card, through the real engine (headless OpenGL); the end frames go to
    ``run_dir``."""
    if not seeds:
        return {}
    from app.analysis.dreams import dream_end_frames, frame_figures
    from app.gl.context import headless_context
    from app.train import figures
    from app.train.trainer import loaded_copy

    try:
        ctx = headless_context()
    except UserError as e:
        return {"error": f"not measured: {e}"}
    try:
        frames = dream_end_frames(ctx, loaded_copy(model, name), CHECK_SIZE, CHECK_STEPS, list(range(seeds)),
                                  device=device)
    finally:
        ctx.release()
    figures.write_png(run_dir / f"dreams-{CHECK_SIZE}px-{CHECK_STEPS}steps.png", figures.grid([frames]))
    return _dream_summary([frame_figures(f) for f in frames], list(range(seeds)), CHECK_SIZE, CHECK_STEPS,
                          device)


def _dream_summary(figs, seeds, size, steps, device, assignments=()) -> dict:
    from app.train.trainer import device_name

    return {"size": size, "steps": steps, "start": "uniform noise",
            "settings": ["dream=1", *assignments, "every other parameter at its default"],
            "measured_by": "hypnagogia dreamcheck (the engine, headless)",
            "device": device_name(device), "seeds": seeds, "frames": [f.to_dict() for f in figs],
            "all_pass": all(f.passes for f in figs)}


def _table(frames: list[dict], seeds: list[int]) -> str:
    lines = ["seed    std  saturated  finite   slope  verdict"]
    for seed, f in zip(seeds, frames):
        lines.append(f"{seed:>4}  {f['std']:5.3f}  {100 * f['saturated']:8.1f}%  {str(f['finite']):>6}  "
                     f"{f['slope']:6.2f}  {'pass' if f['passes'] else 'FAIL'}")
    return "\n".join(lines)


# ---- dreamcheck --------------------------------------------------------------------------------
def dreamcheck(args) -> int:
    from app.analysis.dreams import SATURATED_MAX, SLOPE_RANGE, STD_MIN, dream_end_frames, frame_figures
    from app.engine import pick_device
    from app.gl.context import headless_context
    from app.session import load_model
    from app.train import figures
    from app.train.data import validation_preview
    from app.train.validation import validation_psnr

    device = pick_device(args.device)
    loaded = load_model(args.model, device)
    if args.size % loaded.model.size_multiple:
        raise UserError(f"--size {args.size} does not suit model {loaded.name}: it must be a multiple of "
                        f"{loaded.model.size_multiple}")
    seeds = list(range(args.seed, args.seed + args.seeds))
    ctx = headless_context()
    try:
        frames = dream_end_frames(ctx, loaded, args.size, args.steps, seeds, args.assignments, device)
    finally:
        ctx.release()
    figs = [frame_figures(f) for f in frames]
    psnr = validation_psnr(loaded.model)
    summary = _dream_summary(figs, seeds, args.size, args.steps, device, args.assignments)
    out = Path(args.out)
    png = figures.write_png(out / f"{loaded.name}-dreams-{args.size}px-{args.steps}steps.png",
                            figures.grid([list(frames)]))
    figures.write_png(out / f"{loaded.name}-reconstructions.png",
                      figures.reconstructions(loaded.model, validation_preview()))
    print(f"{loaded.name}: {args.steps} steps of full dream from uniform noise at {args.size}², "
          f"default rule{' with ' + ' '.join(args.assignments) if args.assignments else ''}")
    print(_table(summary["frames"], seeds))
    print(f"pass: std ≥ {STD_MIN}, saturated < {100 * SATURATED_MAX:g}%, finite, slope in "
          f"[{SLOPE_RANGE[0]}, {SLOPE_RANGE[1]}]; photos sit at about −2.5 to −3.0")
    print(f"validation PSNR at 256²: {psnr:.2f} dB")
    print(f"end frames: {png}; held-out photos over their reconstructions beside it")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"model": loaded.name, "psnr_db": round(psnr, 2), **summary},
                                              indent=2) + "\n")
    return 0 if summary["all_pass"] else 1
