"""Command line: ``hypnagogia [live|record|bench|attractors|train|dreamcheck|experiment|info|params] …``.

Every loop command takes ``--set name=value`` (any registered parameter) and ``--device``. Problems
the user can fix end as one line on stderr and exit status 2, never a traceback. Each subcommand
lives in a module of this package that registers its arguments with no heavy imports, so ``--help``
answers at once; torch and the GL stack load when a command runs.
"""

from __future__ import annotations

import os

# Torch's OpenMP workers and numpy's OpenBLAS threads spin while waiting for work; beside the loop's
# other threads (GL driver, encoder, webcam) or any other busy process, spinning made a step ten
# times slower. numpy's matrices here are small, so one thread is also the fastest. Must be set
# before torch and numpy load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import contextlib  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402

from app import __version__  # noqa: E402
from app.errors import UserError  # noqa: E402
from app.outputs.signals import describe, handled  # noqa: E402

COMMANDS = ("live", "record", "bench", "attractors", "train", "dreamcheck", "experiment", "info", "params",
            "probe", "presets")
# The commands that promise Ctrl-C: SIGINT, SIGTERM and SIGHUP end them keeping every frame, SIGINT
# even where it was inherited ignored (app.outputs.signals). The others end on Ctrl-C as Python does.
CTRL_C_COMMANDS = ("live", "record")


def build_parser():
    from app.commands.args import OneLineParser
    parser = OneLineParser(prog="hypnagogia", description="Trained neural networks dreaming in real time.")
    parser.add_argument("--version", action="version", version=f"hypnagogia {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"app.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Ctrl-C ends any command in one line, start-up included; SIGINT, SIGTERM and SIGHUP end
    ``record`` and the window gracefully from their first moment (see CTRL_C_COMMANDS)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "live")
    started = False
    with handled() if argv[0] in CTRL_C_COMMANDS else contextlib.nullcontext() as stop:
        try:
            args = build_parser().parse_args(argv)
            import torch
            # Before torch starts its worker threads, which inherit the setting: feedback loops decay toward
            # tiny values, and denormal floats make CPU convolutions tens of times slower.
            torch.set_flush_denormal(True)
            if stop is not None:
                stop.check()
            started = True
            return args.run(args) or 0
        except KeyboardInterrupt as e:
            name, status = describe(e)
            print(f"hypnagogia: interrupted by {name}" + ("" if started else " while starting: nothing was written"),
                  file=sys.stderr)
            return status
        except Exception as e:
            if not _users_to_fix(e):
                raise
            print(f"hypnagogia: error: {e}", file=sys.stderr)
            return 2


def _users_to_fix(error: Exception) -> bool:
    from app.params import ParamError     # here, not above: the first moments of main() take signals
    return isinstance(error, (UserError, ParamError))
