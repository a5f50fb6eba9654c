"""Playing the window live, on a real X server (Xvfb) driven with xdotool: controls that stay put,
the recording lamp, keys that text fields swallow, presets recalled by click and key, and a control
learned from MIDI that follows the messages a MIDI server sends."""

import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from PIL import ImageGrab

from conftest import ROOT, xvfb
from test_window import grab, quit_window, wait_for

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                                reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")


class Window:
    """The app under Xvfb with its UI probe, and xdotool's hands."""

    def __init__(self, display: str, tmp_path, *args: str):
        self.env = {**os.environ, "DISPLAY": display, "HYPNAGOGIA_HOME": str(tmp_path / "home")}
        self.display, self.tmp = display, tmp_path
        self.probe = tmp_path / "probe.json"
        self.app = subprocess.Popen([sys.executable, "-m", "app", "--model", "ae-tiny-smooth", "--size", "64",
                                     "--window-size", "1280x760", "--captures", str(tmp_path),
                                     "--ui-probe", str(self.probe), *args],
                                    cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)

    def wait(self, condition, timeout=90.0):
        return wait_for(self.probe, condition, timeout)

    def click(self, widget: str, button: str = "1") -> None:
        """Hover first: ImGui takes a click on an item only on a frame after it is hovered."""
        x0, y0, x1, y1 = self.wait(lambda d: widget in d["widgets"])["widgets"][widget]
        subprocess.run(["xdotool", "mousemove", str(int((x0 + x1) / 2)), str(int((y0 + y1) / 2)), "sleep", "0.4",
                        "click", button], env=self.env, check=True)

    def key(self, *names: str) -> None:
        subprocess.run(["xdotool", "search", "--name", "^Hypnagogia$", "windowfocus", "--sync", "key", *names],
                       env=self.env, check=True)

    def type(self, text: str) -> None:
        subprocess.run(["xdotool", "type", "--delay", "80", text], env=self.env, check=True)

    def screenshot(self, name: str) -> np.ndarray:
        screen = np.asarray(ImageGrab.grab(xdisplay=self.display))[..., :3]
        cv2.imwrite(str(self.tmp / name), screen[..., ::-1])
        return screen

    def quit(self) -> str:
        out = quit_window(self.app, self.env)
        assert self.app.returncode == 0, out
        return out


@pytest.fixture
def display():
    with xvfb("1280x800x24") as name:
        yield name


STILL = ("dream", "pause", "reset", "tab:Layers", "tab:Capture", "param:dream", "param:mode")


def test_controls_stay_put_while_log_lines_arrive(display, tmp_path):
    window = Window(display, tmp_path, "--source", "shapes")
    try:
        before = window.wait(lambda d: d["step"] >= 5 and all(w in d["widgets"] for w in STILL))
        for _ in range(4):                       # each press is a notice: "top-down cut", "top-down restored"
            window.key("t")
            time.sleep(0.3)
        window.key("g")                          # "rule: …"
        after = window.wait(lambda d: sum("top-down" in n for n in d["notices"]) >= 4
                            and any(n.startswith("rule: ") for n in d["notices"]))
        window.screenshot("after-notices.png")
    finally:
        window.quit()
    for widget in STILL:
        assert after["widgets"][widget] == before["widgets"][widget], widget


def test_the_recording_lamp_shows_over_the_view_in_every_tab(display, tmp_path):
    window = Window(display, tmp_path, "--source", "shapes")
    try:
        window.wait(lambda d: d["step"] >= 5)
        window.key("r")
        started = window.wait(lambda d: d["recording"] is not None and "recording_indicator" in d["widgets"])
        for tab in ("tab:Explore", "tab:Presets", "tab:Capture"):
            window.click(tab)
            time.sleep(1.2)
            data = window.wait(lambda d: "recording_indicator" in d["widgets"])
            x0, y0, x1, y1 = data["widgets"]["recording_indicator"]
            lamp = grab(display, (x0, y0, 26, y1 - y0))
            # lit or dimmed (it blinks): red well above green and blue
            reddish = (lamp[..., 0] > 90) & (lamp[..., 0] > 3 * np.maximum(lamp[..., 1], lamp[..., 2]))
            assert reddish.sum() > 20, f"no red lamp over the view with {tab} open"
            window.screenshot(f"recording-{tab[4:]}.png")
        window.key("r")
        window.wait(lambda d: d["recording"] is None and any("recording saved" in n for n in d["notices"]))
        time.sleep(0.5)
        assert "recording_indicator" not in window.wait(lambda d: True)["widgets"]
    finally:
        window.quit()
    import av
    cells = started["cells"]
    side = int(max(c[3] for c in cells)) // 2 * 2       # the main view: one square cell, as large as it shows
    with av.open(started["recording"]["path"].replace(".part", "")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert frame.shape[:2] == (side, side) and side > 64 * 4


def test_text_fields_swallow_the_keys_typed_into_them(display, tmp_path):
    window = Window(display, tmp_path, "--source", "shapes")
    try:
        window.wait(lambda d: d["step"] >= 5)
        window.click("tab:Input")
        window.click("path")
        time.sleep(0.5)
        window.type("dnk")                         # d: dream, n: reset, k: kick, if they leaked
        data = window.wait(lambda d: d["path_input"] == "dnk", timeout=30)
        assert data["params"]["dream"] == 0.0
        assert not any("reset" in n for n in data["notices"])
        window.key("Escape")                       # leaves the field; the next Escape quits
        time.sleep(0.5)
    finally:
        window.quit()


def test_a_control_learned_from_midi_follows_the_messages(display, tmp_path):
    """MIDI learn in the window: a right click on the dream slider, Learn MIDI, a knob turned on a
    controller (a mido PortServer here, MIDI over TCP, since this machine has no ALSA sequencer),
    and from then on the slider follows the knob."""
    import mido
    import mido.sockets
    from test_midi import accept_waiting

    import socket
    with socket.socket() as probe:          # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = mido.sockets.PortServer("127.0.0.1", port)
    window = Window(display, tmp_path, "--source", "shapes", "--midi-in", f"127.0.0.1:{port}")
    try:
        window.wait(lambda d: d["step"] >= 5 and any("connected" in n for n in d["notices"]))
        window.click("param:dream", "3")
        window.click("midi:learn:dream")
        window.wait(lambda d: True)
        time.sleep(0.5)
        deadline = time.monotonic() + 30
        learned = None
        while learned is None and time.monotonic() < deadline:
            accept_waiting(server)
            server.send(mido.Message("control_change", channel=0, control=7, value=100))
            time.sleep(0.3)
            data = window.wait(lambda d: True)
            if abs(data["params"]["dream"] - 100 / 127) < 1e-3:
                learned = data
        assert learned is not None, "the knob's first turn did not make a mapping"
        window.screenshot("learned.png")
        for value in (0, 64, 127, 30):
            server.send(mido.Message("control_change", channel=0, control=7, value=value))
            window.wait(lambda d: abs(d["params"]["dream"] - value / 127) < 1e-3, timeout=20)
        server.send(mido.Message("control_change", channel=0, control=8, value=127))   # another knob: unmapped
        time.sleep(0.8)
        assert abs(window.wait(lambda d: True)["params"]["dream"] - 30 / 127) < 1e-3
    finally:
        window.quit()
        server.close()


@pytest.mark.skipif(not shutil.which("zenity"), reason="needs zenity, the file dialog (apt-get install zenity)")
def test_open_plays_the_file_chosen_in_the_system_file_dialog(display, tmp_path):
    still = tmp_path / "chosen still.png"
    cv2.imwrite(str(still), np.full((48, 64, 3), (40, 200, 90), np.uint8))
    window = Window(display, tmp_path, "--source", "shapes")
    try:
        window.wait(lambda d: d["step"] >= 5)
        window.click("tab:Input")
        window.click("open:source")
        subprocess.run(["xdotool", "search", "--sync", "--name", "Play a video or image", "windowfocus", "--sync"],
                       env=window.env, check=True, timeout=60)
        time.sleep(1.0)
        window.type(str(still))                 # a typed "/" opens the dialog's location field
        time.sleep(0.5)
        subprocess.run(["xdotool", "key", "Return"], env=window.env, check=True)
        window.wait(lambda d: any(n == f"source: {still.name}" for n in d["notices"]), timeout=60)
        window.screenshot("chosen.png")
    finally:
        window.quit()
