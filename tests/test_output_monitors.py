"""The output window on a second monitor of a real X server with two outputs (Xorg's dummy driver):
it opens borderless on that monitor at its resolution and shows the view; unplugging the monitor
(RandR turns the output off) moves it to the panel's monitor with a message, and plugging it back
in moves it back, with the app running throughout."""

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import ImageGrab

from conftest import ROOT
from test_window import _content, hypnagogia, quit_window, wait_for

DUMMY_DRIVER = Path("/usr/lib/xorg/modules/drivers/dummy_drv.so")
CONFIG = """
Section "Device"
    Identifier "dummy"
    Driver "dummy"
    VideoRam 256000
EndSection
Section "Screen"
    Identifier "screen"
    Device "dummy"
    DefaultDepth 24
    SubSection "Display"
        Depth 24
        Virtual 3840 1080
    EndSubSection
EndSection
"""
SECOND = (960, 540)

pytestmark = pytest.mark.skipif(not (shutil.which("Xorg") and DUMMY_DRIVER.exists() and shutil.which("xrandr")
                                     and shutil.which("xdotool")),
                                reason="needs Xorg's dummy driver, xrandr and xdotool "
                                       "(apt-get install xserver-xorg-core xserver-xorg-video-dummy x11-xserver-utils "
                                       "xdotool)")


@contextlib.contextmanager
def dummy_xorg(folder: Path):
    """An Xorg server on the dummy driver, whose outputs RandR can switch on and off; its DISPLAY."""
    config = folder / "xorg.conf"
    config.write_text(CONFIG)
    server = subprocess.Popen(["Xorg", "-displayfd", "1", "-noreset", "-nolisten", "tcp", "-config", str(config),
                               "-logfile", str(folder / "xorg.log")],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    number = server.stdout.readline().strip()
    if not number:
        server.wait(10)
        pytest.skip("Xorg with the dummy driver did not start here (it needs to run as root or through Xorg.wrap)")
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def xrandr(display: str, *args: str) -> None:
    subprocess.run(["xrandr", *args], env={**os.environ, "DISPLAY": display}, check=True, capture_output=True)


def plug_in(display: str) -> None:
    subprocess.run(["xrandr", "--addmode", "DUMMY1", "{}x{}".format(*SECOND)],
                   env={**os.environ, "DISPLAY": display}, capture_output=True)     # already there on most builds
    xrandr(display, "--output", "DUMMY1", "--mode", "{}x{}".format(*SECOND), "--right-of", "DUMMY0")
    # a full query probes the outputs, as a real monitor's hot-plug event makes the server do: only then
    # does the cheap query that GLFW makes see DUMMY1 connected
    xrandr(display, "--query")


def test_the_output_window_follows_its_monitor_out_and_back(tmp_path):
    with dummy_xorg(tmp_path) as display:
        plug_in(display)
        env = {**os.environ, "DISPLAY": display}
        probe = tmp_path / "probe.json"
        app = subprocess.Popen([hypnagogia(), "--model", "ae-tiny-smooth", "--size", "64", "--source", "sample",
                                "--set", "freeze=1", "--window-size", "1000x700", "--output-monitor", "1",
                                "--captures", str(tmp_path), "--ui-probe", str(probe)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        on_its_monitor = [1024, 0, *SECOND]          # DUMMY0 starts at 1024×768
        try:
            data = wait_for(probe, lambda d: d["step"] >= 40 and d.get("output_window") == on_its_monitor)
            assert not any("movable window" in n for n in data["notices"])
            time.sleep(0.5)
            screen = np.asarray(ImageGrab.grab(xdisplay=display))[..., :3].astype(np.float32)
            cv2.imwrite(str(tmp_path / "two-monitors.png"), screen[..., 2::-1])
            shown = screen[0:SECOND[1], 1024:1024 + SECOND[0]]
            rows, cols = _content(shown)
            assert abs((rows.stop - rows.start) - SECOND[1]) <= 2, "the view does not fill the monitor's height"
            cx, cy, cw, ch = (int(round(v)) for v in next(c for c in data["cells"] if c[0] == "prediction")[1:])
            side = SECOND[1]
            main = cv2.resize(screen[cy:cy + ch, cx:cx + cw], (side, side), interpolation=cv2.INTER_AREA)
            content = cv2.resize(shown[rows, cols], (side, side), interpolation=cv2.INTER_AREA)
            assert np.abs(main - content).mean() < 12, "the output window does not show the main view"

            xrandr(display, "--output", "DUMMY1", "--off")
            data = wait_for(probe, lambda d: any("unplugged" in n for n in d["notices"]), timeout=30)
            assert data["output_window"][:2] != on_its_monitor[:2], "the output window stayed off-screen"
            assert data["output_window"][0] + data["output_window"][2] <= 1024 + 64
            step = data["step"]
            wait_for(probe, lambda d: d["step"] > step + 10, timeout=30)     # the loop goes on

            plug_in(display)
            data = wait_for(probe, lambda d: d.get("output_window") == on_its_monitor
                            and any("on monitor 1" in n for n in d["notices"]), timeout=30)
        finally:
            out = quit_window(app, env)
        assert app.returncode == 0 and "Traceback" not in out, out
