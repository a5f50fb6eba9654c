"""The window's probe on a real X server: a click on a unit in the grid view shows its preferred stimulus
and outlines its receptive field on the view; drawing on the canvas with the mouse changes the response
plot."""

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import ImageGrab

from conftest import ROOT, xvfb
from test_window import hypnagogia, quit_window, wait_for

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                                reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")


@pytest.fixture
def tall_display():
    """A screen tall enough for the whole Probe tab."""
    with xvfb("1300x1100x24") as name:
        yield name


def box(screen, rect):
    x0, y0, x1, y1 = (int(round(v)) for v in rect)
    return screen[y0:y1, x0:x1, :3].astype(np.float32)


def test_clicking_a_unit_shows_its_stimulus_and_field_and_drawing_changes_its_response(tall_display, tmp_path):
    probe = tmp_path / "probe.json"
    env = {**os.environ, "DISPLAY": tall_display}
    app = subprocess.Popen([hypnagogia(), "--model", "ae-tiny-smooth", "--size", "64", "--source", "shapes",
                            "--set", "view=grid", "--window-size", "1250x1060", "--captures", str(tmp_path),
                            "--ui-probe", str(probe)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)

    def move(x, y, *then):
        subprocess.run(["xdotool", "mousemove", str(int(x)), str(int(y)), "sleep", "0.4", *then], env=env, check=True)

    try:
        data = wait_for(probe, lambda d: d["step"] >= 10 and "tab:Probe" in d["widgets"])
        x0, y0, x1, y1 = data["widgets"]["tab:Probe"]
        move((x0 + x1) / 2, (y0 + y1) / 2, "click", "1")
        data = wait_for(probe, lambda d: "probe:canvas" in d["widgets"])
        assert data["probe"]["target"]["layer"] == "1"                     # the default selection
        # layer 2 of ae-tiny-smooth has 32 channels in 6×6 tiles; the middle of the 8th tile (row 1, column 1)
        _, cx, cy, cw, ch = next(c for c in data["cells"] if c[0] == "layer 2 state")
        move(cx + cw * 1.5 / 6, cy + ch * 1.5 / 6, "click", "1")
        data = wait_for(probe, lambda d: d["probe"]["target"] is not None and d["probe"]["target"]["layer"] == "2"
                        and d["probe"]["stimulus"] and "probe:stimulus" in d["widgets"] and "probe:field" in d["widgets"])
        assert any(n.startswith("probing layer 2 unit 7") for n in data["notices"])
        assert data["params"]["probe.layer"] == 2 and data["params"]["probe.unit"] == 7
        target = data["probe"]["target"]
        row, column = target["position"]
        assert target["unit"] == 7 and 7 <= row <= 8 and 7 <= column <= 8      # the middle of the tile
        # 25 px around pixel 4·position of 64: layer 2's field (a blur before each strided convolution)
        assert data["probe"]["field"] == [4 * row - 12, 4 * column - 12, 4 * row + 13, 4 * column + 13]
        screen = np.asarray(ImageGrab.grab(xdisplay=tall_display))
        stimulus = box(screen, data["widgets"]["probe:stimulus"])
        assert stimulus.std() > 5, "the preferred stimulus is not drawn"
        # the outline on the first image cell: yellow pixels along its edges, where the cell is not yellow
        fx0, fy0, fx1, fy1 = data["widgets"]["probe:field"]
        edge = box(screen, (fx0 - 1, fy0 - 1, fx1 + 1, fy0 + 2))
        yellow = (edge[..., 0] > 200) & (edge[..., 1] > 160) & (edge[..., 2] < 90)
        assert yellow.mean(axis=1).max() > 0.8, "the receptive field is not outlined"
        _, px, py, pw, ph = next(c for c in data["cells"] if c[0] == "prediction")
        assert px <= fx0 < fx1 <= px + pw and abs((fx0 - px) / pw - (4 * column - 12) / 64) < 0.02

        # draw a stroke across the canvas
        before = data["probe"]
        plot_before = box(screen, data["widgets"]["probe:canvas_plot"])
        x0, y0, x1, y1 = data["widgets"]["probe:canvas"]
        move(x0 + 6, (y0 + y1) / 2, "mousedown", "1")
        for i in range(1, 13):
            subprocess.run(["xdotool", "mousemove", str(int(x0 + 6 + i * (x1 - x0 - 12) / 12)),
                            str(int((y0 + y1) / 2 + (i % 3 - 1) * 6)), "sleep", "0.05"], env=env, check=True)
        subprocess.run(["xdotool", "mouseup", "1"], env=env, check=True)
        data = wait_for(probe, lambda d: d["probe"]["canvas_responses"] >= before["canvas_responses"] + 3, timeout=30)
        assert data["probe"]["canvas_last"] != before["canvas_last"]
        subprocess.run(["xdotool", "sleep", "0.5"], env=env)
        screen = np.asarray(ImageGrab.grab(xdisplay=tall_display))
        plot_after = box(screen, data["widgets"]["probe:canvas_plot"])
        assert np.abs(plot_after - plot_before).mean() > 1.0, "the canvas response plot did not change"
        assert data["probe"]["live"] > 0 and data["probe"]["live_last"] is not None
    finally:
        out = quit_window(app, env)
    assert app.returncode == 0 and "Traceback" not in out, out
