"""``hypnagogia train ae`` and ``hypnagogia train pvm``."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from app.commands.args import (OneLineParser, add_device, non_negative_int, non_negative_number, parse_widths,
                               positive_int, positive_number, positive_size, probability)
from app.commands.dreamcheck import CHECK_SEEDS, CHECK_SIZE, CHECK_STEPS, dream_summary, figures_table
from app.errors import UserError
from app.resources import runs_dir, user_models_dir

DEFAULT_WIDTHS = (16, 32, 64, 128)
DEFAULT_BATCH = 16
DEFAULT_MOTION = 0.65        # calm ↔ wild of new models' dreams: slow drift between scenes (docs/models.md)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def register(sub) -> None:
    train = sub.add_parser("train", help="train a model (see `hypnagogia train ae --help`)")
    kinds = train.add_subparsers(dest="kind", parser_class=OneLineParser, metavar="KIND", required=True)
    ae = kinds.add_parser("ae", help="train a dreaming conv autoencoder and export it to your models folder",
                          description="Train a conv autoencoder to reconstruct images and to dream natural-"
                                      "looking ones in the app's loop; export NAME.safetensors + .json to "
                                      "--models-dir.")
    ae.add_argument("--name", default="ae-custom", help="model name: writes NAME.safetensors and its .json "
                    "card to --models-dir; pictures and the resumable state go to --runs-dir/NAME/ (default "
                    "ae-custom)")
    ae.add_argument("--widths", default=None, help="channels of the feature layers, e.g. 16,32,64,128 "
                    f"(default {','.join(map(str, DEFAULT_WIDTHS))}); each layer halves the resolution")
    ae.add_argument("--activation", default="gelu", choices=("gelu", "relu", "elu", "silu"),
                    help="hidden activation inside encoders and decoders (default gelu)")
    ae.add_argument("--resample", default="smooth", choices=("smooth", "stride"),
                    help="smooth: blur before each stride-2 convolution and upsample bilinearly, so the loop has "
                         "no aliasing to grow into stripes; stride: plain stride-2 and nearest-neighbour, the "
                         "first models' (default smooth)")
    ae.add_argument("--padding", default="reflect", choices=("reflect", "zeros"),
                    help="how convolutions see past the frame's edge (default reflect: no dark border for the "
                         "loop to grow)")
    ae.add_argument("--blocks", type=non_negative_int, default=0, metavar="N",
                    help="residual blocks per layer, each widening the layer's receptive field (default 0)")
    ae.add_argument("--motion", type=non_negative_number, default=None, metavar="M",
                    help="calm ↔ wild (0 to 1) the model dreams at by default, written on its card; training "
                         f"itself dreams the plain loop (default {DEFAULT_MOTION})")
    ae.add_argument("--steps", type=positive_int, default=2000, help="training steps in all (default 2000)")
    ae.add_argument("--minutes", type=positive_number, default=None, metavar="M", help="stop after this many minutes "
                    "even if --steps are not done (the learning-rate schedule then follows the clock)")
    ae.add_argument("--size", type=positive_size, default=128, help="crop size in pixels (default 128)")
    ae.add_argument("--batch", type=positive_int, default=None, help="crops per step, in all processes together "
                    f"under torchrun (the global batch; default {DEFAULT_BATCH}, or the resumed run's)")
    ae.add_argument("--lr", type=positive_number, default=2e-3, help="peak Adam learning rate (default 2e-3)")
    add_device(ae, "trains")
    add_backend(ae)
    data = ae.add_mutually_exclusive_group()
    data.add_argument("--data", default=None, metavar="DATA",
                      help="train on a video file, an image or a folder of images; on photos (a film of slow "
                           "pans, zooms and cross-fades over every shipped photo and wallpaper) or sample (the "
                           "sample clip); or on several joined by +, e.g. photos+sample (default: the bundled "
                           "photos, assets/photos/)")
    data.add_argument("--webcam", type=positive_number, default=None, metavar="S",
                      help="record S seconds of the webcam, then train on them")
    ae.add_argument("--resume", default=None, metavar="CKPT", help="continue from RUNS/NAME/state.pt (all "
                    "state) or start from the weights of a .safetensors checkpoint")
    ae.add_argument("--recurrent-passes", type=non_negative_int, default=4, metavar="N",
                    help="loop steps of the recurrent loss, each with latent noise (default 4; 0 = off)")
    ae.add_argument("--latent-noise", type=non_negative_number, default=0.2, metavar="SIGMA",
                    help="std of the noise added to every layer's state in the recurrent loss (default 0.2)")
    ae.add_argument("--latent-penalty", type=non_negative_number, default=0.03, metavar="W",
                    help="weight of the mean square of the latent states (default 0.03)")
    ae.add_argument("--dream-weight", type=non_negative_number, default=1.0, metavar="W",
                    help="weight of the dream loss: patch statistics of dreams against photo crops (default "
                         "1; 0 = off)")
    ae.add_argument("--dream-steps", type=positive_int, default=3, metavar="N",
                    help="loop steps each pooled dream runs per training step (default 3)")
    ae.add_argument("--dream-pool", type=positive_int, default=256, metavar="N",
                    help="dreams kept in progress (default 256)")
    ae.add_argument("--dream-restart", type=probability, default=0.01, metavar="P",
                    help="chance that a pooled dream restarts from noise when taken (default 0.01: dreams "
                         "live about 300 loop steps)")
    ae.add_argument("--dream-match", choices=("batch", "image"), default="batch",
                    help="compare the dreams' patches together with the photos' (batch), or each dream's "
                         "with the photos' (image) (default batch)")
    ae.add_argument("--follow-weight", type=non_negative_number, default=1.0, metavar="W",
                    help="weight of the follow loss: the loop watching a still image settles on it instead of "
                         "flickering (default 1; 0 = off)")
    ae.add_argument("--follow-steps", type=positive_int, default=8, metavar="N",
                    help="loop steps of the follow loss; the second half is scored (default 8)")
    ae.add_argument("--snapshot-minutes", type=positive_number, default=3.0, metavar="M",
                    help="minutes between picture grids and saved state (default 3)")
    ae.add_argument("--check-seeds", type=non_negative_int, default=CHECK_SEEDS, metavar="N",
                    help=f"dreams from noise measured for the card ({CHECK_STEPS} steps at {CHECK_SIZE}², "
                         f"default {CHECK_SEEDS}; 0 = skip)")
    ae.add_argument("--seed", type=int, default=0, help="seed of weights, crops and dreams")
    ae.add_argument("--models-dir", default=str(user_models_dir()), metavar="DIR",
                    help="where the model is exported (default: your models folder, %(default)s)")
    ae.add_argument("--runs-dir", default=str(runs_dir()), metavar="DIR",
                    help="where run folders go (default %(default)s)")
    ae.set_defaults(run=train_ae, assignments=[])
    _register_pvm(kinds)


def _register_pvm(kinds) -> None:
    pvm = kinds.add_parser(
        "pvm", help="train a Predictive Vision Model online on a video and export it to your models folder",
        description="The PVM learns online, one frame per step, to predict its next input at every layer.")
    pvm.add_argument("--spec", default=None, help="spec name in models/specs (pvm-small, pvm-paper, pvm-large) "
                     "or a .json path; optional with --resume")
    pvm.add_argument("--source", default="sample", help="sample (the bundled clip), webcam, webcam:N, or a "
                     "video path (default sample)")
    pvm.add_argument("--steps", type=positive_int, default=10000, help="steps to run now (default 10000)")
    pvm.add_argument("--minutes", type=positive_number, default=None, metavar="M",
                     help="stop after M minutes of training even if --steps are not done (then export)")
    pvm.add_argument("--name", default=None, help="model name: exports NAME.safetensors + .json to "
                     "--models-dir, snapshots go to --runs-dir/NAME/ (default: the spec's name)")
    pvm.add_argument("--resume", default=None, metavar="CKPT", help="continue from a run folder RUNS/NAME (its "
                     "state, whole or in shards), its state.index.json or any shard, or a .safetensors PVM")
    pvm.add_argument("--snapshot-every", type=positive_int, default=5000, metavar="N",
                     help="steps between snapshots of the state and the error curve (default 5000)")
    pvm.add_argument("--streams", type=positive_int, default=None, metavar="B",
                     help="B independent streams through the same weights, the video read at B evenly spaced "
                          "offsets (it must fit in memory): a step's update is the sum of the B per-stream "
                          "updates at the spec's rate, so every frame teaches at that rate and a step moves the "
                          "weights up to B times as far; the schedule counts steps, B frames each; under torchrun "
                          "the streams are shared out, two or more a process (default 1, or the resumed run's)")
    pvm.add_argument("--held-out", type=int, default=None, metavar="SEED",
                     help="at the end, measure the model on the sample clip rendered with SEED as long and as "
                          "fast as the training video, beside copying the previous frame, its block means and a "
                          "least-squares predictor fit on the video; written to the card")
    add_device(pvm, "trains")
    add_backend(pvm)
    pvm.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    pvm.add_argument("--models-dir", default=str(user_models_dir()), metavar="DIR",
                     help="where the model is exported (default: your models folder, %(default)s)")
    pvm.add_argument("--runs-dir", default=str(runs_dir()), metavar="DIR",
                     help="where run folders go (default %(default)s)")
    pvm.set_defaults(run=_train_pvm, assignments=[])


def add_backend(parser) -> None:
    parser.add_argument("--backend", choices=("auto", "gloo", "nccl"), default="auto",
                        help="under torchrun, how the processes talk: auto takes NCCL on CUDA GPUs and gloo on CPUs")


# ---- train ae ----------------------------------------------------------------------------------
def train_ae(args) -> int:
    from app.train.distributed import one_voice

    return one_voice(_checked_train_ae)(args)


def _checked_train_ae(args) -> int:
    from app.loop.device import pick_device
    from app.train import distributed

    if not NAME.fullmatch(args.name):
        raise UserError(f"--name {args.name!r}: use letters, digits, '.', '_' and '-' (e.g. ae-mine)")
    widths, activation = _architecture(args)
    if args.size % (1 << len(widths)):
        raise UserError(f"--size {args.size}: a model of {len(widths)} layers needs a multiple of "
                        f"{1 << len(widths)}")
    if args.resume is not None and not Path(args.resume).is_file():
        raise UserError(f"--resume {args.resume}: no such file; pass {Path(args.runs_dir) / args.name / 'state.pt'} "
                        f"or a .safetensors model")
    device = pick_device(args.device)
    run_dir = Path(args.runs_dir) / args.name
    with distributed.session(device, args.backend, lambda: _kept(run_dir / "state.pt")) as (team, device):
        return _train_ae(args, team, device, widths, activation)


def _train_ae(args, team, device, widths, activation) -> int:
    from app.train import data, trainer

    args.batch = _global_batch(args, team)
    if args.webcam is not None:
        if team.world > 1:
            raise UserError("--webcam under torchrun: every process would record a camera of its own; record a "
                            "video once and pass --data VIDEO")
        frames = data.from_webcam(args.webcam, args.batch)
    elif args.data is not None:
        frames = data.from_spec(args.data, args.batch, args.seed)
    else:
        frames = data.bundled()
    config = trainer.TrainConfig(
        name=args.name, widths=widths, activation=activation, steps=args.steps, minutes=args.minutes,
        size=args.size,
        batch=args.batch, lr=args.lr, recurrent_passes=args.recurrent_passes, latent_noise=args.latent_noise,
        latent_penalty=args.latent_penalty, dream_weight=args.dream_weight, dream_steps=args.dream_steps,
        dream_batch=args.batch, dream_pool=args.dream_pool, dream_restart=args.dream_restart,
        dream_match=args.dream_match, follow_weight=args.follow_weight, follow_steps=args.follow_steps,
        snapshot_minutes=args.snapshot_minutes, motion=_motion(args), **_shape(args),
        seed=args.seed, command=_train_command(args, widths, activation))
    run_dir = Path(args.runs_dir) / args.name
    job = trainer.Trainer(config, frames, device, run_dir, resume=Path(args.resume) if args.resume else None,
                          team=team)
    result = job.run()
    if not team.leader:
        return 0
    dreams = _card_dreams(result.model, args.name, device, args.check_seeds, run_dir, config.motion)
    path = trainer.export(result.model, Path(args.models_dir) / args.name,
                          trainer.card(config, frames, result, device, dreams, team))
    print(f"{args.name}: validation PSNR {result.psnr:.2f} dB at {data.VALIDATION_SIZE}², "
          f"{result.seconds / 60:.1f} min; wrote {path} and {path.with_suffix('.json')}")
    if dreams.get("frames"):
        print(figures_table(dreams["frames"], dreams["seeds"]))
    return 0


def _global_batch(args, team) -> int:
    """--batch, else the resumed run's global batch, else the default; it must split over the team."""
    saved = _resumed_batch(Path(args.resume)) if args.resume else None
    batch = args.batch or (saved[0] if saved else DEFAULT_BATCH)
    if batch % team.world == 0:
        return batch
    if args.batch is None and saved:
        raise UserError(f"--resume {args.resume}: its run's global batch of {batch} crops (from {saved[1]} "
                        f"process{'es' if saved[1] > 1 else ''}) does not split over this run's {team.world} "
                        f"processes; start a number of processes that divides {batch}, or pass --batch with a "
                        f"multiple of {team.world}")
    raise UserError(f"--batch {batch} does not split over this run's {team.world} processes; pass a multiple of "
                    f"{team.world} (--batch counts the crops of a step in all processes together)")


def _resumed_batch(path: Path) -> tuple[int, int] | None:
    """(global batch, processes) of a training state that records them."""
    if path.suffix == ".safetensors":
        return None
    import torch
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return (int(state["batch"]), int(state.get("processes", 1))) if "batch" in state else None


def _kept(state: Path) -> str:
    """What a run that stops early leaves, and how to go on."""
    if state.is_file():
        return f"every file is whole; continue from the last snapshot with --resume {state}"
    return "no snapshot was taken yet, and no file is half-written"


def _architecture(args) -> tuple[tuple[int, ...], str]:
    if args.resume and Path(args.resume).is_file():
        widths, activation = _resumed_architecture(Path(args.resume))
        if args.widths is not None and parse_widths(args.widths) != widths:
            raise UserError(f"--widths {args.widths} differs from the checkpoint's {','.join(map(str, widths))}; "
                            f"drop --widths to resume")
        return widths, activation
    return (parse_widths(args.widths) if args.widths is not None else DEFAULT_WIDTHS), args.activation


def _shape(args) -> dict:
    """How the layers resample and pad, and their residual blocks: the resumed checkpoint's (one from
    before these options has the first models' plain stride and zero padding), else the flags'."""
    if args.resume and Path(args.resume).is_file():
        config = _resumed_config(Path(args.resume))
        return {"resample": config.get("resample", "stride"), "padding": config.get("padding", "zeros"),
                "blocks": int(config.get("blocks", 0))}
    return {"resample": args.resample, "padding": args.padding, "blocks": args.blocks}


def _motion(args) -> float:
    if args.motion is None:
        return DEFAULT_MOTION
    if args.motion > 1:
        raise UserError(f"--motion {args.motion:g}: calm ↔ wild runs from 0 to 1")
    return args.motion


def _resumed_architecture(path: Path) -> tuple[tuple[int, ...], str]:
    config = _resumed_config(path)
    return tuple(int(w) for w in config["widths"]), config.get("activation", "gelu")


def _resumed_config(path: Path) -> dict:
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
    return config


def _train_command(args, widths, activation) -> str:
    shape = _shape(args)
    parts = ["hypnagogia", "train", "ae", "--name", args.name, "--widths", ",".join(map(str, widths)),
             "--activation", activation, "--resample", shape["resample"], "--padding", shape["padding"],
             "--blocks", shape["blocks"], "--motion", _motion(args), "--steps", args.steps, "--size", args.size, "--batch", args.batch,
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


def _card_dreams(model, name: str, device, seeds: int, run_dir: Path, motion: float) -> dict:
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
        frames = dream_end_frames(ctx, loaded_copy(model, name, motion), CHECK_SIZE, CHECK_STEPS, list(range(seeds)),
                                  device=device)
    finally:
        ctx.release()
    figures.write_png(run_dir / f"dreams-{CHECK_SIZE}px-{CHECK_STEPS}steps.png", figures.grid([frames]))
    return dream_summary([frame_figures(f) for f in frames], list(range(seeds)), CHECK_SIZE, CHECK_STEPS,
                          device)


def _train_pvm(args) -> int:
    from app.train.pvm import train_pvm

    return train_pvm(args)
