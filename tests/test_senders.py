"""Sending the view to other programs: each sender opens for real where its library and device
exist, and says in one line what to do where they do not; a sender never holds the loop."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from app.errors import UserError
from app.outputs import senders
from app.outputs.view_output import ViewOutput


def _gradient_draw(ctx, width, height):
    """A draw that fills the target with a known, moving picture."""
    state = {"t": 0}

    def draw(fbo):
        fbo.use()
        state["t"] += 1
        fbo.clear((state["t"] % 7) / 7.0, 0.5, 1.0 - (state["t"] % 5) / 5.0, 1.0)
    return draw


def test_a_missing_camera_library_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    with pytest.raises(UserError, match=r'pip install "hypnagogia\[camera\]"'):
        senders.virtual_camera()


@pytest.mark.skipif(bool(glob.glob("/dev/video*")), reason="a video device exists here: the real camera test runs")
def test_no_camera_device_says_how_to_make_one():
    pytest.importorskip("pyvirtualcam", reason="pyvirtualcam is not installed (./setup.sh --dev installs it)")
    with pytest.raises(UserError) as error:
        senders.virtual_camera()
    message = str(error.value)
    assert "\n" not in message and "no virtual camera device" in message
    assert "modprobe v4l2loopback" in message if sys.platform == "linux" else "OBS" in message


@pytest.mark.skipif(not glob.glob("/dev/video*"), reason="no v4l2loopback device here (sudo modprobe v4l2loopback "
                    "devices=1 exclusive_caps=1 makes one)")
def test_the_virtual_camera_delivers_the_view(gl):
    import cv2
    pytest.importorskip("pyvirtualcam")
    sink = senders.virtual_camera((320, 240), 30)

    def draw(fbo):
        fbo.use()
        fbo.clear(0.8, 0.4, 0.1, 1.0)
    output = ViewOutput(gl, (320, 240), draw)
    output.add(sink)
    capture = cv2.VideoCapture(sink.name.split()[-1])
    try:
        for _ in range(30):
            output.show()
            time.sleep(1 / 30)
        ok, frame = capture.read()
    finally:
        capture.release()
        output.close()
    assert ok and frame.shape[:2] == (240, 320)
    np.testing.assert_allclose(frame[..., ::-1].reshape(-1, 3).mean(axis=0), (204, 102, 25), atol=20)


def test_ndi_sends_every_frame_it_is_paced_for(gl):
    pytest.importorskip("cyndilib", reason="cyndilib is not installed (./setup.sh --dev installs it)")
    sink = senders.ndi("hypnagogia-test", fps=1000.0)    # a fast pace: every tick is due
    output = ViewOutput(gl, (64, 48), _gradient_draw(gl, 64, 48))
    output.add(sink)
    for _ in range(20):
        output.show()
        time.sleep(0.002)
    summary = output.remove(sink)
    output.release()
    assert sink.error is None and sink.frames_written + sink.frames_dropped >= 18
    assert sink.frames_written > 0 and summary.startswith("NDI hypnagogia-test:")


@pytest.mark.parametrize("kind, platform", [("syphon", "darwin"), ("spout", "win32")])
def test_a_sender_of_another_platform_is_one_line(kind, platform):
    if sys.platform == platform:
        pytest.skip(f"{kind} is this platform's own")
    with pytest.raises(UserError) as error:
        senders.SENDERS[kind]()
    assert "\n" not in str(error.value) and "--ndi" in str(error.value)


def test_a_slow_receiver_drops_its_own_frames_and_never_holds_the_loop(gl):
    """The loop hands over 30 frames while the receiver can take about one: it drops the rest itself
    (had the hand-over waited for it, nothing would be dropped)."""
    def slow(pixels):
        time.sleep(0.05)
    sink = senders.ThreadedSink(senders.SenderSink("slow receiver", slow, lambda: None, fps=1000.0))
    output = ViewOutput(gl, (32, 32), _gradient_draw(gl, 32, 32))
    output.add(sink)
    for _ in range(30):
        output.show()
        time.sleep(0.003)           # at least one frame due on the sender's 1000 fps clock
    output.remove(sink)
    output.release()
    assert sink.frames_dropped > 10 and sink.frames_written > 0
    assert sink.frames_written + sink.frames_dropped == 30


NDI_ROUND_TRIP = r'''
import sys, time
import moderngl
from cyndilib.finder import Finder
from cyndilib.receiver import Receiver
from cyndilib.video_frame import VideoFrameSync
from cyndilib.wrapper.ndi_recv import RecvBandwidth, RecvColorFormat
from app.outputs import senders
from app.outputs.view_output import ViewOutput

ctx = moderngl.create_standalone_context(backend="egl")
def draw(fbo):
    fbo.use()
    fbo.clear(0.8, 0.4, 0.1, 1.0)
sink = senders.ndi("hypnagogia-round-trip", fps=1000.0)
output = ViewOutput(ctx, (96, 64), draw)
output.add(sink)
finder = Finder()
finder.open()
receiver = Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
frames = VideoFrameSync()
receiver.frame_sync.set_video_frame(frames)
deadline, found = time.monotonic() + 30, False
while time.monotonic() < deadline:
    output.show()
    time.sleep(0.01)
    if not found:
        finder.wait_for_sources(0.05)
        names = [n for n in finder.get_source_names() if "hypnagogia-round-trip" in n]
        if names:
            receiver.set_source(finder.get_source(names[0]))
            found = True
        continue
    receiver.frame_sync.capture_video()
    if frames.xres > 0:
        pixels = frames.get_array().reshape(frames.yres, frames.xres, 4)
        print(frames.xres, frames.yres, *pixels[..., :3].reshape(-1, 3).mean(axis=0).round())
        break
output.remove(sink)
output.release()
'''


def test_an_ndi_receiver_gets_the_view(tmp_path):
    """A real NDI receiver on this machine finds the sender and gets the view (discovery on the
    loopback interface, as NDI's own config file sets it)."""
    pytest.importorskip("cyndilib", reason="cyndilib is not installed (./setup.sh --dev installs it)")
    (tmp_path / "ndi-config.v1.json").write_text('{"ndi": {"networks": {"ips": "127.0.0.1"}}}')
    done = subprocess.run([sys.executable, "-c", NDI_ROUND_TRIP], capture_output=True, text=True, timeout=90,
                          env={**os.environ, "NDI_CONFIG_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    fields = done.stdout.split()
    assert fields, f"no frame reached the receiver in 30 s: {done.stderr[-500:]}"
    width, height, *rgb = (float(v) for v in fields)
    assert (width, height) == (96, 64)
    np.testing.assert_allclose(rgb, (204, 102, 25), atol=12)
