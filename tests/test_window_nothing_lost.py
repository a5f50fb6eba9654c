"""The window's recordings on a real X server (Xvfb) with real key presses (xdotool): every
recording its own file, a stop signal at any moment closes the window keeping the recording, a
full disk is one true line."""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from conftest import ROOT, default_stop_signals, fill, small_disk as mount_small_disk, xvfb, taken_over
from test_window import wait_for

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                                reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")
SAVED = re.compile(r"recording saved: (.+?) \((\d+) frames")


@pytest.fixture
def display():
    with xvfb() as name:
        yield {**os.environ, "DISPLAY": name}


@pytest.fixture
def small_disk(tmp_path):
    with mount_small_disk(tmp_path / "small_disk", "1m") as disk:
        yield disk


def start_window(env, captures, probe, model_arg, *extra):
    return subprocess.Popen([sys.executable, "-m", "app", "--source", "shapes", "--size", "64", "--window-size",
                             "1000x700", "--captures", str(captures), "--ui-probe", str(probe), *model_arg, *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_stop_signals())


def press(env, *keys, delay_ms=None):
    delay = ["--delay", str(delay_ms)] if delay_ms is not None else []
    subprocess.run(["xdotool", "search", "--name", "^Hypnagogia$", "windowfocus", "--sync", "key", *delay, *keys],
                   env=env, check=True)


def focused(env, probe):
    """The window takes keys: d (dream) pressed until the probe shows it, then pressed back."""
    for _ in range(5):
        press(env, "d")
        try:
            wait_for(probe, lambda d: d["params"]["dream"] == 1.0, timeout=10)
            break
        except AssertionError:
            continue
    press(env, "d")
    wait_for(probe, lambda d: d["params"]["dream"] == 0.0, timeout=30)


def quit_window(app, env):
    press(env, "Escape")
    try:
        return app.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        app.kill()
        return app.communicate()


def frames_in(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_twenty_recordings_in_six_seconds_leave_twenty_files_each_as_long_as_it_says(display, tmp_path, model_arg):
    """r pressed 40 times, 150 ms apart: 20 recordings started and stopped within 6 s, most of them
    in the same second as another. Each has a file of its own holding the frames its notice states."""
    captures, probe = tmp_path / "captures", tmp_path / "probe.json"
    app = start_window(display, captures, probe, model_arg)
    try:
        wait_for(probe, lambda d: d["step"] >= 10)
        focused(display, probe)
        press(display, *["r"] * 40, delay_ms=150)
        time.sleep(1.0)
    finally:
        out, err = quit_window(app, display)
    assert app.returncode == 0, err
    assert out.count("recording to ") == 20, out
    saved = SAVED.findall(out)
    files = sorted(captures.glob("*.mp4"))
    assert len(saved) == 20 and len(files) == 20, out
    assert {Path(path) for path, _ in saved} == set(files)
    assert all(frames_in(path) == int(n) > 0 for path, n in saved)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_while_recording_closes_the_window_keeping_the_recording(display, tmp_path, model_arg, signum):
    captures, probe = tmp_path / "captures", tmp_path / "probe.json"
    app = start_window(display, captures, probe, model_arg)
    try:
        wait_for(probe, lambda d: d["step"] >= 10)
        focused(display, probe)
        press(display, "r")
        wait_for(probe, lambda d: any("recording to" in n for n in d["notices"]))
        time.sleep(random.uniform(0.1, 2.0))
        app.send_signal(signum)
        out, err = app.communicate(timeout=60)
    finally:
        app.kill()
    assert app.returncode == 128 + signum, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    name = signal.Signals(signum).name
    assert lines[0].startswith(f"hypnagogia: interrupted by {name}; recording saved: "), lines[0]
    path, n = SAVED.search(lines[0]).groups()
    assert frames_in(path) == int(n) > 0
    assert sorted(captures.glob("*.mp4")) == [Path(path)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_while_the_window_opens_ends_it_in_one_line(display, tmp_path, model_arg, signum):
    captures, probe = tmp_path / "captures", tmp_path / "probe.json"
    moment = random.uniform(0.0, 5.0)
    app = start_window(display, captures, probe, model_arg)
    try:
        taken_over(app)
        time.sleep(moment)
        app.send_signal(signum)
        out, err = app.communicate(timeout=60)
    finally:
        app.kill()
    assert app.returncode == 128 + signum, (moment, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, (moment, err)
    assert lines[0].startswith(f"hypnagogia: interrupted by {signal.Signals(signum).name}"), lines[0]
    assert not list(captures.glob("*.mp4")) if captures.exists() else True


def test_a_disk_that_fills_while_recording_is_one_true_line(display, small_disk, tmp_path, model_arg):
    """No 'recording saved (0 frames, 4 dropped)' after the disk-full line: the line says what the
    file keeps, and the file decodes to that."""
    fill(small_disk, leave=200 * 1024)
    probe = tmp_path / "probe.json"
    app = start_window(display, small_disk, probe, model_arg, "--record-size", "512x512", "--source", "noise")
    try:
        wait_for(probe, lambda d: d["step"] >= 10)
        focused(display, probe)
        press(display, "r")
        wait_for(probe, lambda d: any("disk full" in n for n in d["notices"]), timeout=120)
        time.sleep(0.5)
    finally:
        out, err = quit_window(app, display)
    assert app.returncode == 0, err
    lines = out.splitlines()
    full = next(i for i, line in enumerate(lines) if "disk full" in line)
    assert not any("recording saved" in line for line in lines[full:]), out
    assert sum("disk full" in line for line in lines) == 1, out
    path, kept = re.search(r"disk full while recording (.+?): kept (\d+) frames; free some space", lines[full]).groups()
    assert frames_in(path) == int(kept) > 0


def test_a_disk_already_full_leaves_no_empty_file_and_says_so(display, small_disk, tmp_path, model_arg):
    fill(small_disk)
    probe = tmp_path / "probe.json"
    app = start_window(display, small_disk, probe, model_arg, "--record-size", "256x256")
    try:
        wait_for(probe, lambda d: d["step"] >= 10)
        focused(display, probe)
        press(display, "r")
        wait_for(probe, lambda d: any("disk full" in n for n in d["notices"]), timeout=60)
        time.sleep(0.5)
    finally:
        out, err = quit_window(app, display)
    assert app.returncode == 0, err
    full = [line for line in out.splitlines() if "disk full" in line]
    assert len(full) == 1 and "no frame fit, so no file is left" in full[0], out
    assert "recording saved" not in out
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]
