"""The live window on a real X server (Xvfb): the panel shows, and clicking the dream toggle with
xdotool changes what the window renders."""

import itertools
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

from conftest import ROOT, xvfb

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                                reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")


@pytest.fixture
def display():
    with xvfb() as name:
        yield name


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
    try:
        data = json.loads(probe.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as e:
        raise AssertionError(f"window did not reach the expected state; no probe ({e})") from None
    raise AssertionError(f"window did not reach the expected state; last probe: step {data.get('step')}, "
                         f"output window {data.get('output_window')}, notices {data.get('notices', [])[-3:]}")


def grab(display, box):
    x, y, w, h = (int(round(v)) for v in box)
    image = ImageGrab.grab(xdisplay=display)
    return np.asarray(image)[y:y + h, x:x + w, :3].astype(np.float32)


def hypnagogia() -> str:
    """The installed console script, as the README's run command starts it."""
    script = os.path.join(os.path.dirname(sys.executable), "hypnagogia")
    assert os.path.exists(script), "install the project first (./setup.sh)"
    return script


def quit_window(app: subprocess.Popen, env: dict) -> str:
    """Escape in the main window, as a user quits; the window's output."""
    subprocess.run(["xdotool", "search", "--name", "^Hypnagogia$", "windowfocus", "--sync", "key", "Escape"], env=env)
    try:
        out, _ = app.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        app.kill()
        out, _ = app.communicate()
    return out


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
        out = quit_window(app, env)
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
        key("F3")
        wait_for(probe, lambda d: d["params"]["view"] == "grid")
        key("s")
        key("r")
        started = wait_for(probe, lambda d: any("recording to" in n for n in d["notices"]))
        wait_for(probe, lambda d: d["step"] >= started["step"] + 40)
        key("r")
        wait_for(probe, lambda d: any("recording saved" in n for n in d["notices"]))
    finally:
        out = quit_window(app, env)
    assert app.returncode == 0, out
    shots = list(tmp_path.glob("*.png"))
    assert len(shots) == 1 and cv2.imread(str(shots[0])).shape[:2] == (3 * 64, 5 * 64)   # grid: 3 rows, 1 + 4 columns
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1
    with av.open(str(videos[0])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    cells = started["cells"]                  # the recording is the view at the size it has on screen
    width = int(max(c[1] + c[3] for c in cells) - min(c[1] for c in cells)) // 2 * 2
    height = int(max(c[2] + c[4] for c in cells) - min(c[2] for c in cells)) // 2 * 2
    assert len(frames) >= 10 and frames[0].shape == (height, width, 3) and width > 5 * 64


def test_clicking_through_every_shipped_model_while_dreaming_paused_and_holding(display, tmp_path):
    """The source and model drop-downs, clicked with xdotool, switch through every source and the three
    shipped models in each state; the window keeps running and keeps stepping where it should."""
    probe = tmp_path / "probe.json"
    env = {**os.environ, "DISPLAY": display}
    app = subprocess.Popen([hypnagogia(), "--model", "ae-tiny-smooth", "--size", "64", "--source", "shapes",
                            "--window-size", "1200x780", "--captures", str(tmp_path), "--ui-probe", str(probe)],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def click(data, widget):
        """Hover first: a tab or a drop-down item takes a click only on a frame after it is hovered."""
        x0, y0, x1, y1 = data["widgets"][widget]
        subprocess.run(["xdotool", "mousemove", str(int((x0 + x1) / 2)), str(int((y0 + y1) / 2)), "sleep", "0.4",
                        "click", "1"], env=env, check=True)

    def pick(combo, option, done):
        """Open the drop-down ``combo`` and click ``option``, until the probe shows ``done``; retried,
        since a popup's first frame places its items before it settles."""
        for _ in range(3):
            click(wait_for(probe, lambda d: combo in d["widgets"]), combo)
            try:
                wait_for(probe, lambda d: f"{combo}:{option}" in d["widgets"], timeout=10)
                time.sleep(0.6)
                click(wait_for(probe, lambda d: f"{combo}:{option}" in d["widgets"], timeout=5), f"{combo}:{option}")
                return wait_for(probe, done, timeout=20)
            except AssertionError:
                # a click on the panel's title bar closes a popup left open (Escape would quit)
                subprocess.run(["xdotool", "mousemove", "1000", "8", "sleep", "0.3", "click", "1"], env=env)
                continue
        cv2.imwrite(str(tmp_path / "not-picked.png"), np.asarray(ImageGrab.grab(xdisplay=display))[..., 2::-1])
        raise AssertionError(f"could not pick {option} in the {combo} drop-down")

    def key(name):
        subprocess.run(["xdotool", "search", "--name", "Hypnagogia", "windowfocus", "--sync", "key", name],
                       env=env, check=True)

    sources = itertools.cycle(("sample", "webcam", "noise", "shapes"))

    def switch_through_models(stepping: bool):
        for name in ("pvm-small", "pvm-paper", "ae-tiny-smooth"):
            source = next(sources)
            # its notice follows the last model's (a missing webcam's fallback may follow it)
            pick("source", source, lambda d: not d["notices"][-1].startswith("model: ") and any(
                n.startswith("source: ") for n in d["notices"][-2:]))
            done = pick("model", name, lambda d: any(n.startswith(f"model: {name}") for n in d["notices"][-2:]))
            if stepping:
                wait_for(probe, lambda d: d["step"] >= done["step"] + 5)
        return done

    def click_until(widget, condition):
        """A click, clicked again while the probe shows it had no effect (on a busy machine a frame
        can take longer than the hover before the click)."""
        for _ in range(3):
            click(wait_for(probe, lambda d: widget in d["widgets"]), widget)
            try:
                return wait_for(probe, condition, timeout=15)
            except AssertionError:
                continue
        raise AssertionError(f"clicking {widget} did not take effect")

    def press_until(name, condition):
        """A key press, pressed again while the probe shows it had no effect (a busy machine may lose
        one before the window has focus)."""
        for _ in range(3):
            key(name)
            try:
                return wait_for(probe, condition, timeout=15)
            except AssertionError:
                continue
        raise AssertionError(f"pressing {name} did not take effect")

    try:
        data = wait_for(probe, lambda d: d["step"] >= 10 and "tab:Input" in d["widgets"])
        press_until("d", lambda d: d["params"]["dream"] == 1.0)
        click(data, "tab:Input")
        switch_through_models(stepping=True)
        paused = press_until("space", lambda d: d["params"]["paused"])
        last = switch_through_models(stepping=False)
        assert last["step"] <= paused["step"] + 1, "the loop stepped while paused"
        press_until("space", lambda d: not d["params"]["paused"])
        data = wait_for(probe, lambda d: not d["params"]["paused"] and "tab:Explore" in d["widgets"])
        data = click_until("tab:Explore", lambda d: "from_frame" in d["widgets"])
        click(data, "from_frame")
        data = wait_for(probe, lambda d: d["params"]["freeze"] and "tab:Input" in d["widgets"])
        click(data, "tab:Input")
        switch_through_models(stepping=True)
        screen = np.asarray(ImageGrab.grab(xdisplay=display))
        cv2.imwrite(str(tmp_path / "after-switching.png"), screen[..., 2::-1])
        assert screen[:, :600].std() > 5, "the view is blank after switching"
    finally:
        out = quit_window(app, env)
    assert app.returncode == 0 and "Traceback" not in out, out


@pytest.fixture
def wide_display():
    """Room for the main window and the output window side by side."""
    with xvfb("2240x900x24") as name:
        yield name


def _content(image: np.ndarray, dark: float = 12.0) -> tuple[slice, slice]:
    """The rows and columns of ``image`` that are not black bars."""
    rows = np.nonzero(image.max(axis=(1, 2)) > dark)[0]
    cols = np.nonzero(image.max(axis=(0, 2)) > dark)[0]
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def test_the_output_window_shows_the_view_and_keeps_its_aspect(wide_display, tmp_path):
    """--output-monitor on a one-monitor display opens the output window as a movable window (and
    says so); it shows what the main view shows, letterboxed, also after a resize."""
    display = wide_display
    probe = tmp_path / "probe.json"
    env = {**os.environ, "DISPLAY": display}
    app = subprocess.Popen([hypnagogia(), "--model", "ae-tiny-smooth", "--size", "64", "--source", "sample", "--set",
                            "freeze=1", "--window-size", "1200x760", "--output-monitor", "1",
                            "--captures", str(tmp_path), "--ui-probe", str(probe)],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        data = wait_for(probe, lambda d: d["step"] >= 40 and d.get("output_window"))
        assert any("movable window" in n for n in data["notices"])
        for size in ((960, 540), (500, 700)):
            if size != tuple(data["output_window"][2:]):
                subprocess.run(["xdotool", "search", "--name", "Hypnagogia output", "windowsize", *map(str, size)],
                               env=env, check=True)
                data = wait_for(probe, lambda d: tuple(d["output_window"][2:]) == size)
                time.sleep(0.5)
            screen = np.asarray(ImageGrab.grab(xdisplay=display))[..., :3].astype(np.float32)
            cv2.imwrite(str(tmp_path / f"output-{size[0]}x{size[1]}.png"), screen[..., 2::-1])
            x, y, w, h = data["output_window"]
            shown = screen[y:y + h, x:x + w]
            rows, cols = _content(shown)
            side = min(w, h)
            assert abs((rows.stop - rows.start) - side) <= 2 and abs((cols.stop - cols.start) - side) <= 2, \
                f"the view is not a {side}² square with bars in a {w}×{h} window"
            cx, cy, cw, ch = (int(round(v)) for v in next(c for c in data["cells"] if c[0] == "prediction")[1:])
            main = cv2.resize(screen[cy:cy + ch, cx:cx + cw], (side, side), interpolation=cv2.INTER_AREA)
            content = cv2.resize(shown[rows, cols], (side, side), interpolation=cv2.INTER_AREA)
            assert np.abs(main - content).mean() < 12, "the output window does not show the main view"
    finally:
        out = quit_window(app, env)
    assert app.returncode == 0 and "Traceback" not in out, out
