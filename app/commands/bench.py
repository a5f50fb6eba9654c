"""``hypnagogia bench``: its arguments; ``app.commands.benchmark`` runs it."""

from __future__ import annotations

from app.commands.args import add_common, positive_int, positive_number


def register(sub) -> None:
    bench = sub.add_parser("bench", help="time every stage of the loop headless; print and write JSON")
    add_common(bench, source="sample")
    bench.add_argument("--steps", type=positive_int, default=300, help="timed steps (whole frames of "
                       "--steps-per-frame steps, rounded up)")
    bench.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    bench.add_argument("--steps-per-frame", type=positive_int, default=None, metavar="K",
                       help="loop steps for each shown frame, as the panel's steps per frame (default: its value, "
                            "1 unless --set or --preset says otherwise); where nothing needs GL between them, the "
                            "K − 1 before the shown one run on the device alone (a PVM learning in normal mode): "
                            "the JSON gives model steps/s and shown frames/s")
    bench.add_argument("--record", action="store_true", help="include readback and H.264 encoding")
    bench.add_argument("--output-size", default=None, metavar="WxH", help="render the view at this size, "
                       "e.g. 1920x1080, fitted with black bars (default: the view's own size)")
    bench.add_argument("--live", action="store_true", help="pace the loop at --fps for --seconds, as the window "
                       "does, recording (with --record) as the window does: count late ticks and dropped frames")
    bench.add_argument("--fps", type=positive_number, default=None, help="with --live: ticks per second "
                       "(default 60)")
    bench.add_argument("--seconds", type=positive_number, default=None, help="with --live: how long (default 10)")
    bench.add_argument("--fan-out", action="store_true", help="with --live: also what a show sends at once, a "
                       "projector's output window (1920x1080, drawn every tick; headless, without the swap) and a "
                       "sender at 1280x720, 30 fps (NDI where cyndilib is installed): count each sink's drops")
    bench.add_argument("--learn", action="store_true", help="a model that learns: learn at every step at a "
                       "fixed rate")
    bench.add_argument("--realtime", action="store_true", help="play a video source at its own frame rate, as "
                       "the window does, instead of decoding a new frame for every step")
    bench.add_argument("--json", default=None, help="write the results here")
    bench.set_defaults(run=run)


def run(args) -> int:
    from app.commands.benchmark import run as run_benchmark
    return run_benchmark(args)
