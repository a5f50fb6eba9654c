"""VideoRecorder and save_png on real files: encode, decode, interrupt, kill, fill the disk."""

import inspect
import random
import signal
import subprocess
import sys
import time

import av
import cv2
import numpy as np
import pytest

from app.errors import UserError
from app.outputs.recorder import VideoRecorder
from app.outputs.screenshot import save_png
from conftest import ROOT, default_stop_signals


def make_frame(index, height, width):
    """A smooth pattern that moves with index, so each frame is distinct and H.264 keeps it close."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    t = index / 10
    rgb = np.stack([np.sin(6 * xx + t), np.cos(5 * yy - t), np.sin(4 * (xx + yy) + 2 * t)], axis=-1)
    return ((rgb + 1) * 120 + 8).astype(np.uint8)


def decode(path, *, allow_cut_tail=False):
    """Every frame in the file as RGB arrays, with its time in seconds."""
    frames = []
    with av.open(str(path)) as container:
        try:
            for packet in container.demux(video=0):
                frames.extend((f.to_ndarray(format="rgb24"), float(f.time)) for f in packet.decode())
        except av.InvalidDataError:
            # A process killed inside a write() can leave half a fragment at the end.
            if not allow_cut_tail:
                raise
    return frames


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse) if mse else float("inf")


# Child process for the interrupt tests: records until stopped, printing frames_written after each write.
CHILD = "import sys\nimport numpy as np\n" + inspect.getsource(make_frame) + """
from app.outputs.recorder import VideoRecorder
path, size = sys.argv[1], int(sys.argv[2])
recorder = VideoRecorder(path, size, size)
index = 0
try:
    while True:
        recorder.write(make_frame(index, size, size))
        index += 1
        print(recorder.frames_written, flush=True)
except KeyboardInterrupt:
    recorder.close()
    print("closed", recorder.frames_written, flush=True)
"""


@pytest.fixture
def start_child():
    children = []

    def start(path, size=128):
        children.append(subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(size)], cwd=ROOT,
                                         stdout=subprocess.PIPE, text=True, preexec_fn=default_stop_signals()))
        return children[-1]

    yield start
    for child in children:  # the child records forever if a test fails before stopping it
        child.kill()
        child.wait()


def wait_for_count(child, target):
    """Reads the child's reports until frames_written reaches target; returns the last one."""
    for line in child.stdout:
        if int(line) >= target:
            return int(line)
    raise AssertionError(f"child exited with {child.wait()} before writing {target} frames")


def test_fixed_step_keeps_every_frame_in_order(tmp_path):
    path = tmp_path / "new" / "folder" / "out.mp4"
    width, height, count = 160, 96, 24
    sources = [make_frame(i, height, width) for i in range(count)]
    # A two-frame queue makes write() outpace the encoder and wait for it.
    with VideoRecorder(path, width, height, fps=24, queue_frames=2) as recorder:
        assert all(recorder.write(frame) for frame in sources)
    assert (recorder.frames_written, recorder.frames_dropped) == (count, 0)
    decoded = decode(path)
    assert len(decoded) == count
    for i, (frame, seconds) in enumerate(decoded):
        assert frame.shape == (height, width, 3)
        assert psnr(frame, sources[i]) > 30
        assert seconds == pytest.approx(i / 24)


def test_frames_reach_the_file_while_recording(tmp_path):
    path = tmp_path / "open.mp4"
    with VideoRecorder(path, 128, 128) as recorder:
        for i in range(10):
            recorder.write(make_frame(i, 128, 128))
        deadline = time.monotonic() + 5
        # The encoder keeps no frames back; only the muxer holds the newest until the next arrives.
        while recorder.frames_written < 9 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorder.frames_written == 9
        assert len(decode(path)) == 9


def test_odd_size_is_padded_by_repeating_the_edge(tmp_path):
    path = tmp_path / "odd.mp4"
    source = make_frame(0, 17, 33)
    with VideoRecorder(path, 33, 17) as recorder:
        recorder.write(source)
    [(frame, _)] = decode(path)
    assert frame.shape == (18, 34, 3)
    assert psnr(frame[:17, :33], source) > 30
    assert psnr(frame[17, :33], frame[16, :33]) > 30
    assert psnr(frame[:17, 33], frame[:17, 32]) > 30


def test_live_mode_drops_what_does_not_fit_and_keeps_the_rest(tmp_path):
    path = tmp_path / "live.mp4"
    sources = [make_frame(i, 512, 512) for i in range(30)]
    recorder = VideoRecorder(path, 512, 512, live=True, queue_frames=1)
    started = time.perf_counter()
    accepted = [recorder.write(frame) for frame in sources]
    burst_s = time.perf_counter() - started
    recorder.close()
    assert burst_s < 0.5, "live write() waited for the encoder"
    assert recorder.frames_dropped == accepted.count(False) > 0
    assert recorder.frames_written + recorder.frames_dropped == len(sources)
    decoded = decode(path)
    kept = [frame for frame, ok in zip(sources, accepted) if ok]
    assert len(decoded) == recorder.frames_written == len(kept)
    assert all(psnr(frame, source) > 30 for (frame, _), source in zip(decoded, kept))


def test_ctrl_c_leaves_exactly_the_frames_written(tmp_path, start_child):
    path = tmp_path / "interrupted.mp4"
    target = random.randint(1, 40)
    child = start_child(path)
    reported = wait_for_count(child, target)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=20)
    final = int(out.split()[-1])
    assert out.split()[-2] == "closed", out
    assert final >= reported
    decoded = decode(path)
    assert len(decoded) == final, f"stopped at {target}"
    assert psnr(decoded[-1][0], make_frame(final - 1, 128, 128)) > 30


@pytest.mark.parametrize("trial", range(3))
def test_kill_9_keeps_every_frame_reported_written(tmp_path, start_child, trial):
    # frames_written only counts fragments already handed to the OS, which a killed process
    # cannot take back: so nothing reported may be missing.
    path = tmp_path / "killed.mp4"
    target = random.randint(1, 40)
    child = start_child(path)
    reported = wait_for_count(child, target)
    time.sleep(random.uniform(0, 0.05))
    child.kill()
    child.wait()
    decoded = decode(path, allow_cut_tail=True)
    assert len(decoded) >= reported, f"killed after {target}"
    assert psnr(decoded[-1][0], make_frame(len(decoded) - 1, 128, 128)) > 30


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_disk_full_stops_with_one_line_error_and_a_playable_file(small_disk):
    path = small_disk / "out.mp4"
    recorder = VideoRecorder(path, 256, 256)
    with pytest.raises(UserError) as raised:
        for i in range(1000):
            recorder.write(make_frame(i, 256, 256))
    recorder.close()  # already reported by write(): must not raise again
    message = str(raised.value)
    assert recorder.error == message
    kept = recorder.frames_written
    assert message == f"disk full while recording {path}: kept {kept} frames; free some space and record again"
    assert recorder.frames_written > 0
    assert len(decode(path)) == recorder.frames_written


LIVE_CHILD_WITH_SIZE_LIMIT = "import sys\nimport numpy as np\n" + inspect.getsource(make_frame) + """
import resource, signal, time
from app.outputs.recorder import VideoRecorder
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
recorder = VideoRecorder(sys.argv[1], 128, 128, live=True)
index = 0
while recorder.error is None and index < 1000:
    recorder.write(make_frame(index, 128, 128))
    index += 1
    time.sleep(0.002)
recorder.close()
print(recorder.frames_written)
print(recorder.error)
"""


def test_live_write_failure_is_reported_through_error(tmp_path):
    path = tmp_path / "limited.mp4"
    done = subprocess.run([sys.executable, "-c", LIVE_CHILD_WITH_SIZE_LIMIT, str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    written, error = done.stdout.splitlines()
    assert error == f"recording {path} stopped (File too large): kept {written} frames"
    assert int(written) > 0
    assert len(decode(path)) == int(written)


def test_bad_arguments_are_user_errors(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write video .*a_file/out.mp4"):
        VideoRecorder(blocker / "out.mp4", 64, 64)
    with pytest.raises(UserError, match="preset"):
        VideoRecorder(tmp_path / "x.mp4", 64, 64, preset="warp")
    with VideoRecorder(tmp_path / "y.mp4", 64, 64) as recorder:
        with pytest.raises(UserError, match="keep the output size fixed"):
            recorder.write(np.zeros((64, 32, 3), np.uint8))


def test_screenshot_reads_back_equal_and_never_overwrites(tmp_path):
    frame = make_frame(3, 48, 80)
    paths = [save_png(frame, tmp_path / "shots") for _ in range(3)]
    assert len(set(paths)) == 3
    # Three calls span at most one change of second, so two of them shared a name stem.
    assert any(p.stem.endswith("-2") for p in paths)
    for p in paths:
        assert np.array_equal(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), frame)
