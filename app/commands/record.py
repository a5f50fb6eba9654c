"""``hypnagogia record``: the loop rendered headless, one frame per step, to a video file."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from app.commands.args import add_common, add_controllers, positive_int
from app.errors import UserError
from app.outputs import signals
from app.outputs.signals import Interrupted, describe


def register(sub) -> None:
    record = sub.add_parser("record", help="render the loop headless, one frame per step, to a video file")
    add_common(record, source="sample")
    add_controllers(record)
    record.add_argument("--steps", type=positive_int, default=None, help="frames to render (default: the length "
                        "of --audio, else 300)")
    record.add_argument("--out", required=True, help="output file; its extension picks the format: .mp4, .mov or "
                        ".mkv (H.264) or .gif (256 colours per frame, for short loops). Written as OUT.part and "
                        "renamed when the recording ends; a crash leaves the .part, which plays")
    record.add_argument("--overwrite", action="store_true", help="replace --out if it exists (never the --source "
                        "itself, never a file another recording is writing)")
    record.add_argument("--fps", type=float, default=30.0, help="frame rate of the file")
    record.add_argument("--quiet", action="store_true", help="no progress bar")
    record.add_argument("--hold", type=positive_int, default=None, metavar="H",
                        help="dream from a static frame: show the source's first frame for H steps, then dream")
    record.add_argument("--cue", action="append", default=[], type=cue, metavar="STEP:NAME=VALUE",
                        help="set a parameter at a step (repeatable), e.g. --cue 100:dream=1: a scripted change, "
                             "as an OSC message or a knob would make it live")
    record.add_argument("--output-size", default=None, metavar="WxH", help="video size, e.g. 1920x1080: the "
                        "view scaled to fit with black bars (default: the view's own size)")
    record.add_argument("--audio", default=None, metavar="FILE", help="a music video: render in step with the sound "
                        "of FILE (WAV, FLAC, MP3, OGG, …), one frame per 1/fps of it, each frame's stretch of sound "
                        "analysed before its step to drive the audio mappings (--audio-map, and a --preset's), and "
                        "the sound muxed into --out as AAC (.mp4, .mov or .mkv)")
    record.add_argument("--audio-map", action="append", default=[], type=audio_map,
                        metavar="FEATURE:TARGET[:DEPTH[:SMOOTHING]]", help="with --audio (repeatable): FEATURE is "
                        "low, mid, high, loudness or onset; a parameter TARGET moves by DEPTH (a fraction of its "
                        "range, negative for down; default 0.25) times the feature, falling back over SMOOTHING "
                        "seconds (default 0.1), e.g. low:feedback.zoom:0.3; an action TARGET fires on every onset, "
                        "e.g. onset:kick (action/NAME where a parameter has the same name, e.g. onset:action/dream)")
    record.set_defaults(run=run)


def run(args) -> int:
    """SIGINT, SIGTERM or SIGHUP before the recording starts end it with nothing written; once it
    has started they end the loop between steps, every frame in flight reaches the file, and one
    line says how many frames it holds (app.outputs.signals)."""
    stop = signals.current()
    recording: list = []                 # the recorder, once there is one
    try:
        from app.gl.context import headless_context
        from app.loop.session import Session
        from app.outputs.files import check_free
        from app.outputs.recorder import container_format

        out = Path(args.out).expanduser()
        container_format(out)            # before the engine loads: what would be refused later is refused now
        refuse_own_source(args.source, out)
        check_free(out, overwrite=args.overwrite)
        sound = _sound(args, out)
        ctx = headless_context()
        stop.check()
        session = Session.from_args(ctx, args, realtime=False)
        try:
            for _, assignment in args.cue:
                session.registry.check(assignment)      # a bad cue fails before anything is written
            stop.check()
            return _record(args, out, session, stop, recording, sound)
        finally:
            session.close()
    except KeyboardInterrupt as e:       # before the recording started, or a third signal during its cleanup
        name, status = describe(e)
        what = "while starting: nothing was written" if not recording else \
            f"while finishing: what was written is in {recording[0].saved_path or str(recording[0].path) + '.part'}"
        print(f"hypnagogia: interrupted by {name} {what}", file=sys.stderr)
        return status


def cue(text: str) -> tuple[int, str]:
    step, sep, assignment = text.partition(":")
    if not sep or not step.strip().isdigit() or "=" not in assignment:
        raise argparse.ArgumentTypeError(f"must be STEP:NAME=VALUE, e.g. 100:dream=1, got {text!r}")
    return int(step), assignment


class RecordHost:
    """What ``record`` offers its controllers: a session to switch, and lines on stderr."""

    def __init__(self, session, write):
        self.session, self._write = session, write

    def model_name(self) -> str:
        return self.session.engine.loaded.name

    def source_spec(self) -> str:
        return self.session.source_spec

    def switch_model(self, name: str) -> None:
        self.session.switch_model(name)

    def switch_source(self, spec: str) -> None:
        self.session.switch_source(spec)

    def thumbnail(self):
        return None

    def notify(self, message: str) -> None:
        self._write(message)


def _controllers(args, session, write):
    from app.action_table import ActionTable
    from app.controllers.hub import Controllers
    from app.loop.triggers import DreamToggle, define_loop_actions

    actions = ActionTable()
    define_loop_actions(actions, lambda: session.engine, session.registry, DreamToggle(session.registry))
    controllers = Controllers(session.registry, actions, RecordHost(session, write))
    controllers.open_from_args(args)
    return controllers


def audio_map(text: str) -> tuple[str, str, str, float | None, float | None]:
    """``FEATURE:TARGET[:DEPTH[:SMOOTHING]]`` as (text, feature, target, depth, smoothing)."""
    from app.controllers.audio_analysis import FEATURES

    parts = text.split(":")
    if not 2 <= len(parts) <= 4 or not parts[1]:
        raise argparse.ArgumentTypeError(f"must be FEATURE:TARGET[:DEPTH[:SMOOTHING]], e.g. low:feedback.zoom:0.3 or "
                                         f"onset:kick, got {text!r}")
    if parts[0] not in FEATURES:
        raise argparse.ArgumentTypeError(f"feature must be one of {', '.join(FEATURES)}, got {parts[0]!r}")
    try:
        numbers = [float(p) for p in parts[2:]] + [None] * (4 - len(parts))
    except ValueError:
        raise argparse.ArgumentTypeError(f"depth and smoothing must be numbers, got {text!r}") from None
    return text, parts[0], parts[1], *numbers


def _sound(args, out: Path):
    """The --audio file decoded (before the engine loads: a bad file is refused with nothing done),
    and --steps from its length when not given."""
    from math import ceil

    from app.controllers.sound import read_sound
    from app.outputs.recorder import container_format

    if args.audio_map and not args.audio:
        raise UserError("--audio-map maps the sound of --audio FILE: give the file too")
    if not args.audio:
        args.steps = args.steps or 300
        return None
    if container_format(out) == "gif":
        raise UserError(f"--out {out.name}: a GIF holds no sound; record --audio to .mp4, .mov or .mkv")
    sound = read_sound(args.audio)
    args.steps = args.steps or max(1, ceil(sound.duration * args.fps))
    return sound


def _map_audio(controllers, specs) -> None:
    """The --audio-map mappings and triggers (after a preset's); UserError naming the first bad one."""
    from app.action_table import ActionError
    from app.params import ParamError

    for text, feature, target, depth, smoothing in specs:
        try:
            action = _action_named(controllers, target)
            if action is None:
                controllers.audio.map(feature, target, *(n for n in (depth, smoothing) if n is not None))
            elif feature != "onset" or depth is not None:
                raise ValueError(f"an action fires on onsets: write onset:{target}")
            else:
                controllers.audio.trigger(action)
        except (ParamError, ActionError, ValueError) as e:
            raise UserError(f"--audio-map {text}: {e}") from None


def _action_named(controllers, target: str) -> str | None:
    """The action an --audio-map TARGET names, or None for a parameter (ParamError for neither)."""
    from app.action_table import ActionError
    from app.params import ParamError

    if target.startswith("action/"):
        return target.removeprefix("action/")
    try:
        controllers.registry[target]
        return None
    except ParamError as not_a_parameter:
        try:
            controllers.actions.check(target)
        except ActionError as not_an_action:
            raise ParamError(f"{not_a_parameter}; {not_an_action}") from None
        return target


def _record(args, out: Path, session, stop, recording: list, sound=None) -> int:
    from tqdm import tqdm

    from app.gl.output import parse_output_size
    from app.gl.views import natural_size
    from app.outputs.recorder import Soundtrack, VideoRecorder
    from app.outputs.sinks import RecorderSink
    from app.loop.records import latest_readouts
    from app.outputs.view_output import view_output

    engine = session.engine
    registry = engine.registry
    # before the file: an OSC port already in use fails with nothing written
    controllers = _controllers(args, session, lambda line: tqdm.write(line, file=sys.stderr))
    try:
        _map_audio(controllers, args.audio_map)
    except UserError:
        controllers.close()
        raise
    if controllers.osc_in is not None:
        # each OSC write logs the step it lands on (the loop's ``i``), which --cue replays
        controllers.osc_in.on_applied = lambda address, value: tqdm.write(
            f"osc: {address}={value} from step {i} (--cue {shlex.quote(f'{i}:{address}={value}')} renders it again)",
            file=sys.stderr)
    view = registry["view"]
    output_size = parse_output_size(args.output_size) if args.output_size else None
    width, height = output_size or natural_size(view, engine.size, engine.n_layers, engine.frame().two_step)
    output = view_output(engine, view, (width, height))
    try:
        recorder = VideoRecorder(out, width, height, fps=args.fps, staged=True, overwrite=args.overwrite,
                                 soundtrack=Soundtrack(sound.samples, sound.rate) if sound is not None else None)
    except BaseException:
        output.release()
        controllers.close()
        raise
    recording.append(recorder)
    sink = RecorderSink(recorder)
    output.add(sink)
    last_message = engine.message
    bar = tqdm(total=args.steps, unit="step", disable=args.quiet, desc=f"recording {out}")
    cues = sorted(args.cue)
    heard = sound.mono() if sound is not None else None
    if args.hold:
        registry.set("dream", 0.0)
    start = time.perf_counter()
    failure: UserError | None = None
    interrupt: Interrupted | None = None
    try:
        for i in range(args.steps):
            if stop.is_set():
                break
            if args.hold and i == 1:
                registry.set("freeze", True)       # keep the first frame: its motion memory fades
            if args.hold and i == args.hold:
                registry.set("dream", 1.0)
            while cues and cues[0][0] <= i:
                registry.apply(cues.pop(0)[1])
            if heard is not None:           # frame i's stretch of sound drives the mappings before step i
                controllers.audio.feed(heard[round(i * sound.rate / args.fps):round((i + 1) * sound.rate / args.fps)],
                                       sound.rate)
            controllers.tick(i / args.fps, latest_readouts(engine.history))
            engine.advance()
            output.show()
            bar.update()
            for message in (engine.message, engine.source.message):
                if message and message != last_message:
                    tqdm.write(message, file=sys.stderr)
                    last_message = message
    except UserError as e:                  # the source failed, or the disk is full
        failure = e
    except Interrupted as e:                # a pipe's wait, or a second signal: stop at once, keeping the frames
        interrupt = e
    finally:
        bar.close()
        controllers.close()
        failure = _finish(output, recorder) or failure
    seconds = time.perf_counter() - start
    frames, saved = recorder.frames_written, recorder.saved_path
    if recorder.error is not None:
        raise UserError(recorder.error)         # disk full, …: it says what was kept
    if failure is not None:
        raise UserError(f"{failure}; {_kept(frames, saved)}")
    if interrupt is not None or stop.is_set():
        name, status = describe(interrupt) if interrupt is not None else (stop.name, stop.exit_status)
        what = f"{saved} holds the {frames} frames written so far" if saved else \
            "no frame was written yet, so no file was left"
        print(f"hypnagogia: interrupted by {name}: {what}", file=sys.stderr)
        return status
    moved = "" if saved == out else f" ({out} appeared meanwhile and was left alone)"
    print(f"wrote {frames} frames ({width}×{height}) to {saved} in {seconds:.1f} s "
          f"({frames / max(seconds, 1e-9):.1f} frames/s){moved}")
    return 0


def _finish(output, recorder) -> UserError | None:
    """Every frame still in the readback ring to the file, the file closed and moved to its name;
    the first UserError on the way, if any."""
    problem = None
    try:
        output.drain()
    except UserError as e:
        problem = e
    try:
        recorder.close()
    except UserError as e:
        problem = problem or e
    output.release()
    return problem


def _kept(frames: int, saved: Path | None) -> str:
    if not saved:
        return "no frame was written, so no file was left"
    return f"{saved} holds the {frames} frames written"


def refuse_own_source(spec: str, out: Path) -> None:
    """A recording never writes over the file it reads: --out (or its .part) naming the --source's
    file, by any path, is refused."""
    from app.outputs.files import part_path
    from app.sources import source_file

    source = source_file(spec)
    if source is None:
        return
    for target in (out, part_path(out)):
        if _same_file(source, target):
            raise UserError(f"--out {out} is the --source itself: recording would destroy it; choose another --out")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:                     # one of them does not exist (yet)
        return a.resolve() == b.resolve()
