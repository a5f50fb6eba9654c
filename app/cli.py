"""Command line: ``hypnagogia [live|record|bench|info|params|train|dreamcheck] …``.

Every subcommand takes ``--set name=value`` (any registered parameter) and ``--device``. Problems
the user can fix end as one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import os

# Torch's OpenMP workers and numpy's OpenBLAS threads spin while waiting for work; beside the loop's
# other threads (GL driver, encoder, webcam) or any other busy process, spinning made a step ten
# times slower. numpy's matrices here are small, so one thread is also the fastest. Must be set
# before torch and numpy load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402

from app.errors import UserError  # noqa: E402
from app.params import ParamError  # noqa: E402

DEFAULT_SOURCE = "webcam"
MAX_SIZE = 4096


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line with a pointer to --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of pixels, got {text!r}") from None
    if value <= 0 or value > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"must be between 4 and {MAX_SIZE} pixels, got {value}")
    if value % 4:
        raise argparse.ArgumentTypeError(f"must be a multiple of 4 (autoencoders need a multiple of 2 to the "
                                         f"power of their depth), got {value}")
    return value


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _whole_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def add_common(p: argparse.ArgumentParser, *, size: int | None = None, source: str | None = None) -> None:
    """--set, --device, --model, --size (default ``size``, or by device and model when None), --source
    (when ``source`` is given) and --seed."""
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                   help="set a live parameter (repeatable); `hypnagogia params` lists them")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="where torch runs: auto takes CUDA, then MPS, else the CPU")
    p.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32",
                   help="number format of an autoencoder's drives on a GPU (fp16 and bf16 with channels_last "
                        "are faster; docs/performance.md states their error against fp32)")
    p.add_argument("--model", default=None,
                   help="model name in models/ or path to a .safetensors checkpoint (default: ae-natural on a "
                        "GPU, ae-tiny on the CPU)")
    default = f"default {size}" if size else "default 256 on a GPU and 128 on the CPU"
    p.add_argument("--size", type=positive_size, default=size, help=f"model input size in pixels (square; a "
                   f"multiple of 2^depth for autoencoders, {default}; fixed by the spec for PVM)")
    if source is not None:
        p.add_argument("--source", default=source,
                       help="webcam, webcam:N, sample (the bundled clip), noise, shapes, or a video/image path")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial noise")


def build_parser() -> argparse.ArgumentParser:
    from app import commands

    parser = OneLineParser(prog="hypnagogia", description="Trained neural networks dreaming in real time.")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser, metavar="COMMAND")

    live = sub.add_parser("live", help="the window: dream on a webcam or file, steered from the panel (default)")
    add_common(live, source=DEFAULT_SOURCE)
    live.add_argument("--fullscreen", action="store_true", help="start fullscreen")
    live.add_argument("--captures", default=None, help="folder for screenshots and recordings "
                      "(default ~/hypnagogia)")
    live.add_argument("--window-size", default="1280x760", help="initial window size WxH")
    live.add_argument("--record-size", default=None, metavar="WxH", help="size of recordings, the view "
                      "scaled up or down to fit with black bars (default: the view's own size)")
    live.add_argument("--ui-probe", default=None, help=argparse.SUPPRESS)
    live.set_defaults(run=commands.live)

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
    record.set_defaults(run=commands.record)

    bench = sub.add_parser("bench", help="time every stage of the loop headless; print and write JSON")
    add_common(bench, source="sample")
    bench.add_argument("--steps", type=positive_int, default=300, help="timed steps")
    bench.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    bench.add_argument("--record", action="store_true", help="include readback and H.264 encoding")
    bench.add_argument("--output-size", default=None, metavar="WxH", help="render the view at this size, "
                       "e.g. 1920x1080, fitted with black bars (default: the view's own size)")
    bench.add_argument("--live", action="store_true", help="pace the loop at --fps for --seconds, as the window "
                       "does, recording (with --record) as the window does: count late ticks and dropped frames")
    bench.add_argument("--fps", type=positive_number, default=None, help="with --live: ticks per second "
                       "(default 60)")
    bench.add_argument("--seconds", type=positive_number, default=None, help="with --live: how long (default 10)")
    bench.add_argument("--learn", action="store_true", help="PVM: every layer learns at every step")
    bench.add_argument("--realtime", action="store_true", help="play a video source at its own frame rate, as "
                       "the window does, instead of decoding a new frame for every step")
    bench.add_argument("--json", default=None, help="write the results here")
    bench.set_defaults(run=commands.bench)

    survey = sub.add_parser("attractors", help="basin survey: dream from many starts at once, map where they "
                            "end, write an HTML report")
    survey.add_argument("--model", default=None, help="model name or checkpoint path")
    survey.add_argument("--starts", type=positive_int, default=64, help="number of starts (default 64)")
    survey.add_argument("--steps", type=positive_int, default=300, help="dream steps per start (default 300)")
    survey.add_argument("--size", type=positive_size, default=None,
                        help="dream size in pixels (default 64; a PVM dreams at its spec's frame size)")
    survey.add_argument("--source", default="sample", help="video or image whose frames seed some starts")
    survey.add_argument("--seed", type=int, default=0)
    survey.add_argument("--tolerance", type=float, default=2e-3, help="RMS change counted as no change")
    survey.add_argument("--patience", type=positive_int, default=20, help="steps the change must stay under it")
    survey.add_argument("--cluster-tolerance", type=float, default=0.12,
                        help="RMS difference between 16×16 end frames under which two ends are one attractor")
    survey.add_argument("--hold", type=positive_int, default=None, metavar="H",
                        help="PVM: steps each start frame is shown, learning off, before the dream (default 100)")
    survey.add_argument("--dream", choices=("deep", "full"), default=None,
                        help="PVM: deep (every layer reads its own prediction; the default) or full (only the frame)")
    survey.add_argument("--sleep-dreams", type=non_negative_int, default=0, metavar="K",
                        help="PVM: after the survey, sleep through K dreams (negative learning while a dream is "
                             "settled), survey again and compare (default 0: no sleep)")
    survey.add_argument("--out", required=True, help="folder for report.html, report.json and the images (with "
                        "--sleep-dreams: before/, after/ and comparison.html)")
    survey.set_defaults(run=commands.attractors, assignments=[])

    info = sub.add_parser("info", help="versions, OpenGL renderer, torch device, cameras and models found")
    info.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    info.set_defaults(run=commands.info, assignments=[])

    params = sub.add_parser("params", help="list every live parameter with its range, default and help")
    params.add_argument("--set", dest="assignments", action="append", default=[], help=argparse.SUPPRESS)
    params.set_defaults(run=commands.params)

    for register in commands.extra_commands():
        register(sub, add_common)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv.insert(0, "live")
    args = parser.parse_args(argv)
    import torch
    # Before torch starts its worker threads, which inherit the setting: feedback loops decay toward
    # tiny values, and denormal floats make CPU convolutions tens of times slower.
    torch.set_flush_denormal(True)
    try:
        return args.run(args) or 0
    except (UserError, ParamError) as e:
        print(f"hypnagogia: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hypnagogia: interrupted", file=sys.stderr)
        return 130
