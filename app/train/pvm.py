"""The PVM learning online from a video, a webcam or the sample clip (``hypnagogia train pvm``).

Progress shows steps/s and the mean frame error. Every ``--snapshot-every`` steps the full state
(weights, momentum, activity, step counter) goes to ``RUNS/NAME/state.safetensors`` (``--runs-dir``),
or where it is larger than 15 MB to shards of at most 15 MB with an index (``app.train.state_files``),
with the error curve (``curve.json``, ``error.png``); ``--resume`` continues from the run folder, its
state file, its index or any of its shards (or from any PVM model), and the end exports
``NAME.safetensors`` with a card (spec, data, steps, frames seen, every segment of the training, final
error, command) to ``--models-dir``, by default the user's models folder.

``--streams B`` runs B streams through the same weights (``app.models.pvm.model``): a video file
read at B evenly spaced offsets. Their momentum and the activity of streams 1 … B − 1 go beside the
state, to ``state.streams.safetensors``; the state itself is that of stream 0 and loads as any PVM.
With ``--held-out SEED`` the card also gets the exported model's error on a held-out clip beside
the baselines of ``app.models.pvm.baselines``.

Under torchrun the B streams are split over the processes in rank order (rank r holds streams
r·B/W … of the B, each at its offset of the video), and each step's update is summed over them
before it is applied (``PVM.share_updates``), so the weights move as in one process holding every
stream. Snapshots gather every stream's activity to rank 0, which writes the run's state as one
process would; it resumes on any number of processes that splits its streams.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from app.resources import runs_dir, user_models_dir
from app.errors import UserError
from app.models.pvm.baselines import held_out_report
from app.models.pvm.model import PVM
from app.models.pvm.spec import load_spec
from app.sources.sample_clip import ClipSettings, render_frames
from app.train import state_files
from app.train.distributed import Team, atomic_write, one_voice, save_checkpoint, session

LOG_EVERY = 100                 # steps per point of the error curve
PRELOAD_BYTES = 1 << 30         # a video file up to this size as float frames is held on the device
WAIT_FOR_FRAME_S = 0.002
HELD_OUT_WARMUP, HELD_OUT_FRAMES = 100, 600     # as the pvm-lesions experiment measures
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
STREAMS_NOTE = ("B streams read the video at B evenly spaced offsets through the same weights; a step's update is "
                "the sum of the B per-stream updates at the spec's rate, so every frame teaches at that rate and a "
                "step moves the weights up to B times as far as a step of one stream. The schedule (layer delays, "
                "the final rate, context switch-on) counts steps, B frames each.")


@dataclass
class _Segments:
    """What the card says of the training: the segments before this run and this one."""
    earlier: list[dict]
    frames_before: int
    first_step: int
    streams: int
    device: str
    command: str
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def after(cls, card: dict, model: PVM, device: torch.device, command: str, streams: int) -> _Segments:
        """This run's of ``streams`` streams in all, continuing a model with ``card`` (one trained before
        segments were recorded counts as one segment of one stream)."""
        earlier = card.get("segments")
        if earlier is None:
            earlier = [{"steps": [0, model.steps], "streams": 1, "frames": model.steps,
                        "command": card.get("command")}] if model.steps else []
        return cls(earlier, int(card.get("frames_seen", model.steps)), model.steps, streams, str(device), command)

    def card(self, model: PVM) -> dict:
        steps = model.steps - self.first_step
        seconds = time.perf_counter() - self.started
        segment = {"steps": [self.first_step, model.steps], "streams": self.streams, "frames": steps * self.streams,
                   "device": self.device, "seconds": round(seconds, 1), "command": self.command}
        return {"steps": model.steps, "streams": self.streams, "frames_seen": self.frames_before + steps * self.streams,
                "segments": [*self.earlier, segment]}


@one_voice
def train_pvm(args) -> int:
    from app.loop.device import pick_device

    if args.name is not None and not NAME.fullmatch(args.name):
        raise UserError(f"--name {args.name!r}: use letters, digits, '.', '_' and '-' (e.g. pvm-mine)")
    device = pick_device(args.device)
    name = args.name or (Path(args.spec).stem if args.spec else "NAME")
    kept = f"every file is whole; continue from the last snapshot with --resume {Path(args.runs_dir) / name}"
    with session(device, args.backend, lambda: kept) as (team, device):
        return _train(args, team, device)


def _train(args, team: Team, device: torch.device) -> int:
    from app.sources import open_source

    model, curve, spec_name, card_before = _start(args, device, team)
    streams = model.streams * team.world
    name = args.name or spec_name
    run_dir = Path(args.runs_dir) / name
    source = open_source(args.source, model.spec.frame_size, realtime=False)
    if source.message:
        print(source.message, file=sys.stderr)
    try:
        feed = _Feed(source, model.spec.frame_size, device, model.streams, model.steps,
                     first=team.rank * model.streams, total=streams)
        if args.held_out is not None and feed.frames is None:
            raise UserError(f"--held-out needs a video file that fits in memory to fit its baselines on; "
                            f"{source.name} is not one")
    except UserError:
        source.close()
        raise
    command = shlex.join(_command(args))
    segments = _Segments.after(card_before, model, device, command, streams)
    card = {"description": f"PVM ({spec_name}) trained online on {source.name}", "spec": spec_name,
            "data": f"{args.source} ({source.name}), {model.spec.frame_size}² frames", "command": command}
    if streams > 1:
        card["streams_are"] = STREAMS_NOTE
    if team.joined:
        card["processes"] = {"count": team.world, "backend": team.backend, "streams_each": model.streams}
    start, first = time.perf_counter(), model.steps
    bar = tqdm(total=args.steps, unit="step", desc=f"train {name}", disable=not team.leader)

    def out_of_time() -> bool:              # rank 0's clock decides for every process
        return args.minutes is not None and model.steps % LOG_EVERY == 0 and \
            bool(team.leaders(time.perf_counter() - start > 60 * args.minutes))

    window, counted = torch.zeros(model.spec.n_layers, device=device), 0
    try:
        for i in range(1, args.steps + 1):
            window += model.step(feed()).layer_errors
            counted += 1
            if model.steps % LOG_EVERY == 0:
                errors = (team.mean_(window) / counted).tolist()
                window.zero_()
                counted = 0
                curve.append([model.steps, *errors])
                bar.set_postfix(error=f"{errors[0]:.4f}")
            bar.update()
            if i % args.snapshot_every == 0:
                _snapshot(model, curve, run_dir, {**card, **segments.card(model)}, team)
            if out_of_time():
                break
    except KeyboardInterrupt:
        bar.close()
        if team.joined:     # the other processes stop where they are: no snapshot can gather them
            print(f"interrupted at step {model.steps}; the last snapshot in {run_dir} is whole", file=sys.stderr)
            raise
        _snapshot(model, curve, run_dir, {**card, **segments.card(model)}, team)
        print(f"interrupted at step {model.steps}; resume with --resume {run_dir}",
              file=sys.stderr)
        raise
    finally:
        bar.close()
        source.close()
    seconds = time.perf_counter() - start
    if counted:
        curve.append([model.steps, *(team.mean_(window) / counted).tolist()])
    card.update(_summary(model, curve, device, seconds, model.steps - first, streams), **segments.card(model))
    if args.held_out is not None and team.leader:
        card["held_out"] = _held_out(model, feed, source, args.held_out)
    _snapshot(model, curve, run_dir, card, team)
    if not team.leader:
        return 0
    path = save_checkpoint(model, Path(args.models_dir) / name, card, export=True)
    print(f"{name}: {model.steps} steps, {card['frames_seen']} frames seen, frame error {card['final_error'][0]:.4f}, "
          f"{card['steps_per_s']:.0f} steps/s; wrote {path}, {path.with_suffix('.json')} and {run_dir}/")
    return 0


def _start(args, device: torch.device, team: Team) -> tuple[PVM, list, str, dict]:
    """The model (fresh from --spec, or the one --resume names, with this process's share of --streams
    streams), its error curve, its spec's name and the card it was trained under so far."""
    if args.resume is None:
        if args.spec is None:
            raise UserError("train pvm needs --spec (e.g. --spec pvm-small) or --resume CKPT")
        model = PVM(load_spec(args.spec), device, seed=args.seed, streams=_share(args.streams or 1, team, "--streams"))
        return _shared(model, team), [], Path(args.spec).stem, {}
    loaded = state_files.load_run_state(args.resume, device)
    if not isinstance(loaded.model, PVM):
        raise UserError(f"--resume {args.resume}: not a PVM checkpoint; pass a run folder, RUNS/NAME")
    if args.spec is not None and load_spec(args.spec) != loaded.model.spec:
        raise UserError(f"--resume {args.resume}: its spec differs from --spec {args.spec}; drop --spec to resume")
    model = loaded.model
    extra, saved = _read_streams(loaded.path)
    streams = args.streams or (1 if saved is None else len(saved["streams.hidden"]) + 1)
    if saved is not None and streams != len(saved["streams.hidden"]) + 1:
        raise UserError(f"--streams {streams}: the run at {loaded.path} has {len(saved['streams.hidden']) + 1} "
                        f"streams; drop --streams to resume it")
    if streams > 1:
        local = _share(streams, team, "--streams" if args.streams else f"--resume {args.resume}")
        first = team.rank * local
        model = _shared(PVM(loaded.model.spec, device, streams=local), team)
        state = loaded.model.state_dict()
        if saved is not None:
            state, saved = _streams_of(state, saved, first, local)
        model.load_state_dict(state)
        if saved is not None:
            try:
                model.load_streams_state(saved)
            except ValueError as e:
                raise UserError(f"{extra}: {e}; delete it to resume the state beside it with one stream") from None
    elif team.world > 1:
        _share(streams, team, f"--resume {args.resume}")
    curve_path = loaded.path.parent / "curve.json"
    curve = json.loads(curve_path.read_text()) if curve_path.is_file() else []
    return (model, [row for row in curve if row[0] <= model.steps], loaded.card.get("spec", loaded.name),
            loaded.card)


def _share(streams: int, team: Team, what: str) -> int:
    """Streams per process: the team must split them evenly, at least two each (the update of one
    stream is held as a ring that cannot be summed over processes)."""
    if streams % team.world == 0 and (team.world == 1 or streams // team.world >= 2):
        return streams // team.world
    raise UserError(f"{what}: {streams} stream{'s' if streams != 1 else ''} cannot be split over this run's "
                    f"{team.world} processes, two or more each; pass --streams {2 * team.world} (or another multiple "
                    f"of {team.world} from {2 * team.world} on), or start fewer processes")


def _shared(model: PVM, team: Team) -> PVM:
    """The model with its updates summed over the team (stepped eagerly: collectives are not captured).
    A team of one has nothing to sum and keeps its CUDA graphs."""
    if team.joined and team.world > 1:
        model.share_updates = team.sum_
        model.cuda_graphs = False
    return model


def _streams_of(state: dict, saved: dict, first: int, count: int) -> tuple[dict, dict]:
    """The state and streams state of streams ``first`` … ``first + count − 1`` of a run whose state
    is ``state`` (stream 0's activity) and ``saved`` (its streams state)."""
    keys = [k.removeprefix("streams.") for k in saved if k.startswith("streams.")]
    every = {k: torch.cat([state[k].cpu()[None], saved[f"streams.{k}"].cpu()]) for k in keys}
    mine = {k: v for k, v in saved.items() if not k.startswith("streams.")}
    mine.update({f"streams.{k}": every[k][first + 1:first + count] for k in keys})
    return {**state, **{k: every[k][first] for k in keys}}, mine


def _run_streams(model: PVM, team: Team) -> dict | None:
    """The streams state of the whole run, every process's streams in rank order, on the leader (None
    on the others); a collective."""
    streams, state = model.streams_state(), model.state_dict()
    keys = [k.removeprefix("streams.") for k in streams if k.startswith("streams.")]
    every = {k: team.gather(torch.cat([state[k][None], streams[f"streams.{k}"]])) for k in keys}
    if not team.leader:
        return None
    whole = {k: v for k, v in streams.items() if not k.startswith("streams.")}
    whole.update({f"streams.{k}": v[1:] for k, v in every.items()})
    return whole


def _read_streams(state: Path) -> tuple[Path | None, dict[str, torch.Tensor] | None]:
    """The streams' state beside a run's ``state`` and the file it came from (None, None: it has none)."""
    found = state_files.load_streams(state)
    if found is None:
        return None, None
    path, saved = found
    if "streams.hidden" not in saved:
        raise UserError(f"{path} is not the streams of a PVM run (no streams.hidden); delete it to resume the "
                        f"state beside it with one stream")
    return path, saved


class _Feed:
    """The next frame (one stream: (3, S, S)) or frames ((B, 3, S, S), stream b at offset b·count/B of
    the video) as floats in [0, 1], from ``start`` steps in. A video file that fits in PRELOAD_BYTES
    is decoded once (``frames``) and cycled on the device, so a step never waits for decoding or a
    host-to-device copy (on a GPU that wait, not the model, would set the pace); a webcam is waited
    for, never repeated."""

    def __init__(self, source, size: int, device: torch.device, streams: int, start: int, first: int = 0,
                 total: int | None = None):
        """``streams`` streams, the ``first`` … of ``total`` (default: these alone)."""
        count = getattr(source, "frame_count", 0)
        total = total or streams
        self.source, self.device, self.frames = source, device, None
        if 0 < count * 3 * size * size * 4 <= PRELOAD_BYTES:
            self.frames = torch.stack([_to_tensor(source.read(), device)
                                       for _ in tqdm(range(count), desc="decode", unit="frame", leave=False)])
            self._position = itertools.count(start)
            offsets = torch.arange(first, first + streams) * count // total
            self._positions = ((offsets + start) % count).to(device)
        elif total > 1:
            raise UserError(f"--streams {total} reads a video file at {total} offsets, one that fits in memory "
                            f"({PRELOAD_BYTES >> 30} GiB of frames); {source.name} is not one")
        self._streams = streams

    def __call__(self) -> torch.Tensor:
        if self.frames is None:
            frame = self.source.read()
            while frame is None:
                time.sleep(WAIT_FOR_FRAME_S)
                frame = self.source.read()
            return _to_tensor(frame, self.device)
        if self._streams == 1:
            return self.frames[next(self._position) % len(self.frames)]
        batch = self.frames.index_select(0, self._positions)
        self._positions.add_(1).remainder_(len(self.frames))
        return batch


def _to_tensor(frame: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frame)).to(device).permute(2, 0, 1).float().div_(255)


def _held_out(model: PVM, feed: _Feed, source, seed: int) -> dict:
    """The model's error on the sample clip rendered with ``seed`` as long and as fast as the training
    video (its frame count and rate, at the model's frame size), beside the baselines, whose least
    squares fit on the training video."""
    size = model.spec.frame_size
    fps = max(1, round(getattr(source, "fps", 30)))
    clip = ClipSettings(size=max(16, size + size % 2), seconds=len(feed.frames) / fps, fps=fps, seed=seed)
    frames = render_frames(clip, range(HELD_OUT_WARMUP + HELD_OUT_FRAMES), size, progress=True)
    held_out = torch.from_numpy(frames).to(model.device).permute(0, 3, 1, 2).float().div_(255)
    report = held_out_report(model, feed.frames, held_out, HELD_OUT_WARMUP)
    print(f"held out (clip seed {seed}): model {report['model']:.4f}, copy {report['copy']:.4f}, block-mean copy "
          f"{report['block_mean']:.4f}, least squares {report['least_squares']:.4f}", file=sys.stderr)
    return {"clip": {"seed": seed, "size": clip.size, "frames": clip.frame_count, "fps": fps}, **report,
            "is": "mean |frame − prediction| from frame warmup on, learning off; baselines: copy the previous "
                  "frame, copy its block means, least squares from a unit's own inputs fit on the training video "
                  "(app.models.pvm.baselines)"}


def _snapshot(model: PVM, curve: list, run_dir: Path, card: dict, team: Team) -> None:
    """The run's state, curve and plot, written by the leader; every process takes part (the streams'
    activity is gathered)."""
    if team.joined:
        streams = _run_streams(model, team)
        if not team.leader:
            return
        model = _WholeRun(model, streams, model.streams * team.world)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_files.save_run_state(model, run_dir, {**card, "steps": model.steps})
    atomic_write(run_dir / "curve.json", lambda path: path.write_text(json.dumps(curve) + "\n"))
    if curve:
        _plot(curve, run_dir / "error.png")


class _WholeRun:
    """The leader's model as the whole run: its state (the weights and stream 0, which is the leader's
    first) with the streams state of every process's streams."""

    def __init__(self, model: PVM, streams_state: dict, streams: int):
        self._model, self._streams_state, self.streams = model, streams_state, streams

    def streams_state(self) -> dict:
        return self._streams_state

    def __getattr__(self, name: str):
        return getattr(self._model, name)


def _plot(curve: list, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    data = np.array(curve)
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    for layer in range(1, data.shape[1]):
        axes.plot(data[:, 0], data[:, layer], label="frame" if layer == 1 else f"layer {layer - 1}",
                  linewidth=2 if layer == 1 else 1)
    axes.set_xlabel("step")
    axes.set_ylabel(f"mean |signal − prediction| (per {LOG_EVERY} steps)")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _summary(model: PVM, curve: list, device: torch.device, seconds: float, steps: int, streams: int) -> dict:
    last = np.array(curve[-10:])[:, 1:].mean(0).round(5).tolist()
    per_s = steps / max(seconds, 1e-9)
    return {"steps": model.steps, "final_error": last,
            "final_error_is": f"per layer, frame first: mean |signal − prediction| over the last "
                              f"{min(len(curve), 10)} points of the error curve (up to {LOG_EVERY} steps each"
                              + (f", the mean of {streams} streams)" if streams > 1 else ")"),
            "device": str(device), "seconds": round(seconds, 1), "steps_per_s": round(per_s, 1),
            "frames_per_s": round(per_s * streams, 1)}


def _command(args) -> list[str]:
    parts = ["hypnagogia", "train", "pvm", "--source", args.source, "--steps", str(args.steps),
             "--snapshot-every", str(args.snapshot_every), "--device", args.device, "--seed", str(args.seed)]
    for flag, value in (("--spec", args.spec), ("--name", args.name), ("--resume", args.resume),
                        ("--minutes", args.minutes), ("--streams", args.streams), ("--held-out", args.held_out)):
        if value is not None:
            parts += [flag, str(value)]
    for flag, value, default in (("--models-dir", args.models_dir, str(user_models_dir())),
                                 ("--runs-dir", args.runs_dir, str(runs_dir()))):
        if value != default:
            parts += [flag, value]
    return parts
