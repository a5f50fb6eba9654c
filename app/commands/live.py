"""``hypnagogia live``: the window (the default command)."""

from __future__ import annotations

import argparse

from app.commands.args import add_common, add_controllers, non_negative_int
from app.resources import captures_dir

DEFAULT_SOURCE = "webcam"


def register(sub) -> None:
    live = sub.add_parser("live", help="the window: dream on a webcam or file, steered from the panel (default)")
    add_common(live, source=DEFAULT_SOURCE)
    add_controllers(live)
    live.add_argument("--fullscreen", action="store_true", help="start fullscreen")
    live.add_argument("--captures", default=None, help="folder for screenshots and recordings "
                      f"(default {str(captures_dir()).replace('%', '%%')})")
    live.add_argument("--window-size", default="1280x760", help="initial window size WxH")
    live.add_argument("--record-size", default=None, metavar="WxH", help="size of recordings, the view "
                      "scaled up or down to fit with black bars (default: the view's own size)")
    live.add_argument("--output-monitor", type=non_negative_int, default=None, metavar="N",
                      help="open the output window (the view alone, for a projector) on monitor N, borderless at "
                           "its resolution (0 is the panel's; with one monitor it opens as a movable window)")
    live.add_argument("--virtual-camera", dest="send", action="append_const", const="camera", default=[],
                      help="send the view to a system camera (OBS, video calls; needs hypnagogia[camera] and, on "
                           "Linux, a v4l2loopback device), at --send-size and 30 fps")
    live.add_argument("--send-size", default=None, metavar="WxH", help="the frame size of the virtual camera, NDI, "
                      "Syphon and Spout (default 1280x720)")
    for kind, what in (("ndi", "as an NDI source on the network (hypnagogia[ndi])"),
                       ("syphon", "as a Syphon server, macOS (hypnagogia[syphon])"),
                       ("spout", "as a Spout sender, Windows (hypnagogia[spout])")):
        live.add_argument(f"--{kind}", dest="send", action="append_const", const=kind, help=f"send the view {what}")
    live.add_argument("--ui-probe", default=None, help=argparse.SUPPRESS)
    live.set_defaults(run=run)


def run(args) -> int:
    from app.ui.app import run_live  # the window's libraries load only when a window is wanted
    return run_live(args)
