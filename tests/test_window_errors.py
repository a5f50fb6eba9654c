"""Nothing lost, nothing silent, in the live window on a real X server (Xvfb): a mixing rule that
breaks while the window runs shows its compiler message and the dream goes on with the last good
version; a missing webcam is said once."""

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import ImageGrab

from conftest import ROOT
from test_rules import GENERAL_LINE, break_line, shader_copy
from app.ui.panel import PANEL_WIDTH
from test_window import display, hypnagogia, quit_window, wait_for  # noqa: F401 (display is a fixture)

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                                reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")

WARN = (255, 199, 76)           # app.ui.panel.WARN: the colour of the panel's status messages


def warning_pixels(display, data, window_width) -> int:
    """Pixels of the warning colour in the panel's status area (above the plot, which sits above
    the Pause button)."""
    bottom = int(data["widgets"]["pause"][1]) - 180
    screen = np.asarray(ImageGrab.grab(xdisplay=display))[20:bottom, window_width - PANEL_WIDTH:window_width, :3]
    return int((np.abs(screen.astype(int) - WARN) < 40).all(axis=2).sum())


def start(display, tmp_path, *args, env=None):
    probe = tmp_path / "probe.json"
    env = {**os.environ, "DISPLAY": display, **(env or {})}
    app = subprocess.Popen([hypnagogia(), "--model", "ae-tiny-smooth", "--size", "64", "--window-size", "1200x760",
                            "--captures", str(tmp_path), "--ui-probe", str(probe), *args],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return app, probe, env


def test_a_rule_broken_while_the_window_runs_shows_its_error_and_the_dream_goes_on(display, tmp_path):
    shaders = shader_copy(tmp_path)
    ff_sum, general = shaders / "rules" / "ff_sum.glsl", shaders / "rules" / "general.glsl"
    good_ff_sum, good_general = ff_sum.read_text(), general.read_text()
    ff_sum.write_text(good_ff_sum.replace("vec4 rule(Cell c)", "vec4 rule(Cell c) { nope; }\nvec4 rule2(Cell c)"))
    app, probe, env = start(display, tmp_path, "--source", "shapes", "--set", "dream=1",
                            env={"HYPNAGOGIA_SHADERS": str(shaders)})
    try:
        # a rule broken from the start: the window opens all the same, the panel shows the error
        data = wait_for(probe, lambda d: d["step"] >= 5 and "pause" in d["widgets"])
        assert warning_pixels(display, data, 1200) > 100, "the broken ff_sum is not shown in the panel"
        ff_sum.write_text(good_ff_sum)
        data = wait_for(probe, lambda d: d["notices"][-1] == "shaders reloaded", timeout=30)
        assert warning_pixels(display, data, 1200) == 0

        # the running rule breaks: it keeps its last good version and the panel shows the compiler's message
        break_line(general, GENERAL_LINE, "    vec4 a = gain_selff[l] * c.state;")
        broken = wait_for(probe, lambda d: d["notices"][-1].startswith("shader error (the last good version runs): ")
                          and "general.glsl:" in d["notices"][-1] and "gain_selff" in d["notices"][-1], timeout=30)
        assert broken["params"]["rule"] == "general"
        wait_for(probe, lambda d: d["step"] >= broken["step"] + 10, timeout=60)      # still dreaming
        assert warning_pixels(display, broken, 1200) > 100, "the compiler's message is not in the panel"

        # fixed: it reloads
        general.write_text(good_general)
        data = wait_for(probe, lambda d: d["notices"][-1] == "shaders reloaded", timeout=30)
        wait_for(probe, lambda d: d["step"] >= data["step"] + 5, timeout=60)
        assert warning_pixels(display, data, 1200) == 0

        # a rule file added while running is picked up: its input joins the parameters
        (shaders / "rules" / "added.glsl").write_text(
            '/*{"INPUTS": [{"NAME": "k", "TYPE": "float", "DEFAULT": 1.5, "MIN": 0, "MAX": 4}]}*/\n'
            '#include "lib/mix_main.glsl"\nvec4 rule(Cell c) { return clamp(k * c.up, -1.0, 1.0); }\n')
        wait_for(probe, lambda d: d["params"].get("added.k") == 1.5, timeout=30)
    finally:
        out = quit_window(app, env)
    assert app.returncode == 0, out
    assert "shader error (the last good version runs): " in out and "Traceback" not in out


def test_a_missing_webcam_is_said_once(display, tmp_path):
    """Before: the panel showed the fallback twice, as its status line and again as a notice."""
    app, probe, env = start(display, tmp_path, "--source", "webcam:63")
    try:
        data = wait_for(probe, lambda d: d["step"] >= 5 and "pause" in d["widgets"])
        assert warning_pixels(display, data, 1200) > 100, "the fallback is not shown in the panel's status"
        assert not any("webcam" in n for n in data["notices"]), data["notices"]
    finally:
        out = quit_window(app, env)
    assert app.returncode == 0, out
    assert out.count("no webcam at index 63") == 1, out          # and once on the console
