"""``hypnagogia record``: the loop rendered headless, one frame per step, to a video file."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from app.commands.args import add_common, positive_int
from app.errors import UserError
from app.outputs import signals
from app.outputs.signals import Interrupted, describe


def register(sub) -> None:
    record = sub.add_parser("record", help="render the loop headless, one frame per step, to a video file")
    add_common(record, source="sample")
    record.add_argument("--steps", type=positive_int, default=300, help="frames to render")
    record.add_argument("--out", required=True, help="output file; its extension picks the format: .mp4, .mov or "
                        ".mkv (H.264) or .gif (256 colours per frame, for short loops). Written as OUT.part and "
                        "renamed when the recording ends; a crash leaves the .part, which plays")
    record.add_argument("--overwrite", action="store_true", help="replace --out if it exists (never the --source "
                        "itself, never a file another recording is writing)")
    record.add_argument("--fps", type=float, default=30.0, help="frame rate of the file")
    record.add_argument("--quiet", action="store_true", help="no progress bar")
    record.add_argument("--hold", type=positive_int, default=None, metavar="H",
                        help="dream from a static frame: show the source's first frame for H steps, then dream")
    record.add_argument("--output-size", default=None, metavar="WxH", help="video size, e.g. 1920x1080: the "
                        "view scaled to fit with black bars (default: the view's own size)")
    record.set_defaults(run=run)


def run(args) -> int:
    """SIGINT, SIGTERM or SIGHUP before the recording starts end it with nothing written; once it
    has started they end the loop between steps, every frame in flight reaches the file, and one
    line says how many frames it holds (app.outputs.signals)."""
    stop = signals.current()
    recording: list = []                 # the recorder, once there is one
    try:
        from app.gl.context import headless_context
        from app.loop.session import build_engine
        from app.outputs.files import check_free
        from app.outputs.recorder import container_format

        out = Path(args.out).expanduser()
        container_format(out)            # before the engine loads: what would be refused later is refused now
        refuse_own_source(args.source, out)
        check_free(out, overwrite=args.overwrite)
        ctx = headless_context()
        stop.check()
        engine = build_engine(ctx, args, realtime=False)
        try:
            stop.check()
            return _record(args, out, engine, stop, recording)
        finally:
            engine.release()
    except KeyboardInterrupt as e:       # before the recording started, or a third signal during its cleanup
        name, status = describe(e)
        what = "while starting: nothing was written" if not recording else \
            f"while finishing: what was written is in {recording[0].saved_path or str(recording[0].path) + '.part'}"
        print(f"hypnagogia: interrupted by {name} {what}", file=sys.stderr)
        return status


def _record(args, out: Path, engine, stop, recording: list) -> int:
    from tqdm import tqdm

    from app.gl.output import parse_output_size
    from app.gl.views import natural_size
    from app.outputs.recorder import VideoRecorder
    from app.outputs.sinks import RecorderSink
    from app.outputs.view_output import view_output

    registry = engine.registry
    view = registry["view"]
    output_size = parse_output_size(args.output_size) if args.output_size else None
    width, height = output_size or natural_size(view, engine.size, engine.n_layers, engine.frame().two_step)
    output = view_output(engine, view, (width, height))
    try:
        recorder = VideoRecorder(out, width, height, fps=args.fps, staged=True, overwrite=args.overwrite)
    except BaseException:
        output.release()
        raise
    recording.append(recorder)
    sink = RecorderSink(recorder)
    output.add(sink)
    last_message = engine.message
    bar = tqdm(total=args.steps, unit="step", disable=args.quiet, desc=f"recording {out}")
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
