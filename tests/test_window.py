"""The live window on a real X server (Xvfb): the panel shows, and clicking the dream toggle with
xdotool changes what the window renders."""

import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from PIL import ImageGrab

from conftest import ROOT

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                                reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")


@pytest.fixture
def display():
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    number = xvfb.stdout.readline().strip()
    yield f":{number}"
    xvfb.terminate()
    xvfb.wait(10)


def wait_for(probe, condition, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = json.loads(probe.read_text())
            if condition(data):
                return data
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"window did not reach the expected state; last probe: {probe.read_text()[:500]}")


def grab(display, box):
    x, y, w, h = (int(round(v)) for v in box)
    image = ImageGrab.grab(xdisplay=display)
    return np.asarray(image)[y:y + h, x:x + w, :3].astype(np.float32)


def hypnagogia() -> str:
    """The installed console script, as the README's run command starts it."""
    script = os.path.join(os.path.dirname(sys.executable), "hypnagogia")
    assert os.path.exists(script), "install the project first (./setup.sh)"
    return script


def test_panel_shows_and_dream_toggle_changes_the_output(display, tmp_path, shipped_checkpoint):
    """`hypnagogia` with its defaults (the CPU's default model; no webcam here, so the sample clip),
    held on one frame so that only the dream toggle changes what is shown."""
    probe = tmp_path / "probe.json"
    env = {**os.environ, "DISPLAY": display}
    app = subprocess.Popen([hypnagogia(), "--set", "freeze=1", "--window-size", "1200x760",
                            "--captures", str(tmp_path), "--ui-probe", str(probe)],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        data = wait_for(probe, lambda d: d["step"] >= 20 and "dream" in d["widgets"])
        screen = np.asarray(ImageGrab.grab(xdisplay=display))
        cv2.imwrite(str(tmp_path / "window.png"), screen[..., 2::-1])
        x0, y0, x1, y1 = data["widgets"]["dream"]
        button = screen[int(y0):int(y1), int(x0):int(x1), :3].astype(np.float32)
        assert button.std() > 10, "the dream button is not drawn"
        cell = next(c for c in data["cells"] if c[0] == "prediction")[1:]
        still_a = grab(display, cell)
        time.sleep(1.0)
        still_b = grab(display, cell)
        steady = np.abs(still_a - still_b).mean()

        subprocess.run(["xdotool", "mousemove", str(int((x0 + x1) / 2)), str(int((y0 + y1) / 2)), "click", "1"],
                       env=env, check=True)
        clicked = wait_for(probe, lambda d: d["params"]["dream"] == 1.0, timeout=30)
        wait_for(probe, lambda d: d["step"] >= clicked["step"] + 30)
        dreaming = grab(display, cell)
        changed = np.abs(dreaming - still_b).mean()
        assert changed > max(5 * steady, 2.0), f"output change {changed:.2f} vs steady {steady:.2f}"
    finally:
        subprocess.run(["xdotool", "key", "Escape"], env=env)
        try:
            out, _ = app.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
            out, _ = app.communicate()
    assert app.returncode == 0, out


def test_keys_record_a_playable_file_and_take_a_screenshot(display, tmp_path, model_arg):
    import av
    probe = tmp_path / "probe.json"
    env = {**os.environ, "DISPLAY": display}
    app = subprocess.Popen([sys.executable, "-m", "app", "--source", "shapes", "--size", "64",
                            "--window-size", "1000x700", "--captures", str(tmp_path), "--ui-probe", str(probe),
                            *model_arg], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    try:
        wait_for(probe, lambda d: d["step"] >= 10)
        key = lambda name: subprocess.run(["xdotool", "search", "--name", "Hypnagogia", "windowfocus", "--sync",  # noqa: E731
                                           "key", name], env=env, check=True)
        key("3")
        wait_for(probe, lambda d: d["params"]["view"] == "grid")
        key("s")
        key("r")
        started = wait_for(probe, lambda d: any("recording to" in n for n in d["notices"]))
        wait_for(probe, lambda d: d["step"] >= started["step"] + 40)
        key("r")
        wait_for(probe, lambda d: any("recording saved" in n for n in d["notices"]))
    finally:
        subprocess.run(["xdotool", "key", "Escape"], env=env)
        out, _ = app.communicate(timeout=20)
    assert app.returncode == 0, out
    shots = list(tmp_path.glob("*.png"))
    assert len(shots) == 1 and cv2.imread(str(shots[0])).shape[:2] == (3 * 64, 5 * 64)   # grid: 3 rows, 1 + 4 columns
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1
    with av.open(str(videos[0])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) >= 10 and frames[0].shape == (3 * 64, 5 * 64, 3)
