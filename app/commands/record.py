"""``hypnagogia record``: the loop rendered headless, one frame per step, to H.264."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time

from app.commands.args import add_common, positive_int


def register(sub) -> None:
    record = sub.add_parser("record", help="render the loop headless, one frame per step, to an H.264 file")
    add_common(record, source="sample")
    record.add_argument("--steps", type=positive_int, default=300, help="frames to render")
    record.add_argument("--out", required=True, help="output .mp4 file")
    record.add_argument("--fps", type=float, default=30.0, help="frame rate of the file")
    record.add_argument("--quiet", action="store_true", help="no progress bar")
    record.add_argument("--hold", type=positive_int, default=None, metavar="H",
                        help="dream from a static frame: show the source's first frame for H steps, then dream")
    record.add_argument("--output-size", default=None, metavar="WxH", help="video size, e.g. 1920x1080: the "
                        "view scaled to fit with black bars (default: the view's own size)")
    record.set_defaults(run=run)


@contextlib.contextmanager
def stop_requested_by_ctrl_c():
    """An event that Ctrl-C sets instead of raising, so the loop ends between steps and every frame
    in flight reaches the file; a second Ctrl-C interrupts at once."""
    stop = threading.Event()

    def request_stop(signum, frame):
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args) -> int:
    from tqdm import tqdm

    from app.gl.context import headless_context
    from app.gl.output import parse_output_size
    from app.gl.views import natural_size
    from app.loop.session import build_engine
    from app.outputs.recorder import VideoRecorder
    from app.outputs.sinks import RecorderSink
    from app.outputs.view_output import view_output

    output_size = parse_output_size(args.output_size) if args.output_size else None
    ctx = headless_context()
    engine = build_engine(ctx, args, realtime=False)
    registry = engine.registry
    view = registry["view"]
    width, height = output_size or natural_size(view, engine.size, engine.n_layers, engine.frame().two_step)
    output = view_output(engine, view, (width, height))
    last_message = engine.message
    recorder = RecorderSink(VideoRecorder(args.out, width, height, fps=args.fps))
    output.add(recorder)
    bar = tqdm(total=args.steps, unit="step", disable=args.quiet, desc=f"recording {args.out}")
    if args.hold:
        registry.set("dream", 0.0)
    start = time.perf_counter()
    try:
        with stop_requested_by_ctrl_c() as stop:
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
            output.drain()
    finally:
        bar.close()
        recorder.close()
        output.release()
        engine.release()
    if stop.is_set():
        print(f"interrupted: {recorder.path} holds the {recorder.frames_written} frames written so far",
              file=sys.stderr)
        return 130
    seconds = time.perf_counter() - start
    print(f"wrote {recorder.frames_written} frames ({width}×{height}) to {recorder.path} in {seconds:.1f} s "
          f"({recorder.frames_written / seconds:.1f} frames/s)")
    return 0
