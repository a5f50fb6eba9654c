"""Argument types and the options every loop command shares."""

from __future__ import annotations

import argparse
import sys

from app.errors import UserError

MAX_SIZE = 4096
DEVICES = ("auto", "cpu", "cuda", "mps")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line with a pointer to --help, and then runs the
    ``finishers`` its options added on what it parsed (``--preset`` filling in what was not given)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.finishers: list = []

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        for finish in self.finishers:
            finish(namespace)
        return namespace, extras


def _number(text: str, kind, check, what: str):
    noun = "a whole number" if kind is int else "a number"
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {noun}, got {text!r}") from None
    if not check(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v > 0, "positive")


def non_negative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "0 or more")


def positive_number(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < float("inf"), "positive")


def non_negative_number(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v < float("inf"), "zero or positive")


def probability(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v <= 1, "between 0 and 1")


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


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``PORT`` (on 127.0.0.1): where an OSC listener binds or a sender sends."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT or PORT with a port from 1 to 65535, got {text!r}")
    return host, number


def parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if not widths or any(w < 1 or w > 1024 for w in widths) or len(widths) > 8:
        raise UserError(f"--widths {text}: give 1 to 8 comma-separated channel counts from 1 to 1024, "
                        f"e.g. 16,32,64,128")
    return widths


def add_device(p: argparse.ArgumentParser, what: str = "runs") -> None:
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help=f"where torch {what}: auto takes CUDA, then MPS, else the CPU")


def add_common(p: argparse.ArgumentParser, *, size: int | None = None, source: str | None = None) -> None:
    """--set, --device, --precision, --model, --size (default ``size``, or by device and model when
    None), --source (when ``source`` is given) and --seed."""
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                   help="set a live parameter (repeatable); `hypnagogia params` lists them")
    add_device(p)
    p.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32",
                   help="number format of an autoencoder's drives on a GPU (fp16 and bf16 with channels_last "
                        "are faster; docs/performance.md states their error against fp32)")
    p.add_argument("--model", default=None,
                   help="model name in models/ or path to a .safetensors checkpoint (default: ae-smooth-256 on a GPU, "
                        "ae-tiny-smooth on the CPU)")
    default = f"default {size}" if size else "default 256 on a GPU and 128 on the CPU"
    p.add_argument("--size", type=positive_size, default=size, help=f"model input size in pixels (square; a "
                   f"multiple of 2^depth for autoencoders, {default}; fixed by the spec for PVM)")
    if source is not None:
        p.add_argument("--source", default=None,
                       help="webcam, webcam:N, sample (the bundled clip), noise, shapes, a video/image path, or a "
                            "stream played once: - (stdin) or a named pipe, in a container libav recognises by its "
                            "content (matroska, mpegts, nut, y4m, fragmented MP4; e.g. `ffmpeg -i IN -f matroska - "
                            "| hypnagogia record --source - …`); raw frames are refused, having no size or format "
                            f"(default: the --preset's source, else {source})")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial noise")
    p.add_argument("--preset", default=None, metavar="NAME|PATH", help="start from a preset: its values, model, "
                   "source and rule (--model, --source and --set given here win); `hypnagogia presets` lists them")
    p.finishers.append(lambda args: start_from_preset(args, source))


def start_from_preset(args: argparse.Namespace, default_source: str | None) -> None:
    """``--preset``: its values go before the ``--set`` ones, its model and source stand in for
    those not given; ``--source`` is the command's default where neither names one. The preset
    itself is ``args.start_preset`` (its modulators and audio mappings, for the controllers)."""
    args.start_preset = None
    if args.preset:
        from app.controllers.presets import PresetBank
        from app.gl.mixer import declare_rule_params
        from app.loop.session import full_registry

        preset = PresetBank().load(args.preset)
        registry = full_registry()
        declare_rule_params(registry)
        assignments, unknown = preset.assignments(registry)
        if unknown:
            print(f"hypnagogia: {unknown}", file=sys.stderr)
        args.assignments = [*assignments, *args.assignments]
        args.model = args.model or preset.model
        if default_source is not None:
            args.source = args.source or preset.source
        args.start_preset = preset
    if default_source is not None and args.source is None:
        args.source = default_source


def add_controllers(p: argparse.ArgumentParser) -> None:
    """--osc-in, --osc-out and --midi-in, for the commands that run the controllers (the window, record)."""
    p.add_argument("--osc-in", type=host_port, default=None, metavar="HOST:PORT", help="listen for OSC: "
                   "/hypnagogia/<parameter> VALUE, /hypnagogia/action/<name>, /hypnagogia/preset/<name> (a bare "
                   "PORT listens on 127.0.0.1 only; name an interface, e.g. 0.0.0.0:9000, to listen on the network)")
    p.add_argument("--osc-out", type=host_port, default=None, metavar="HOST:PORT", help="send every parameter "
                   "change and, each frame, the dream's readouts as OSC to HOST:PORT")
    p.add_argument("--midi-in", action="append", default=[], metavar="PORT", help="open the MIDI input whose name "
                   "contains PORT (repeatable; the window's panel picks ports too)")
