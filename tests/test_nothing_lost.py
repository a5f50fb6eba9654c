"""Nothing lost, nothing silent: recordings never open an existing file, `record --out` refuses
what it would destroy, signals at any moment end in one line and a playable file, pipes are read
as streams, a failing source or a full disk keeps every frame written and says so.

Real files, real subprocesses and signals (os.kill), real pipes, a real small tmpfs where this
machine lets us mount one (else skipped with the reason)."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from app.errors import UserError
from app.outputs.recorder import VideoRecorder
from app.outputs.screenshot import save_png
from conftest import default_stop_signals, fill, small_disk as mount_small_disk, ROOT, run_cli, taken_over

STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def make_frame(index, height, width):
    """A smooth pattern that moves with index, so each frame is distinct and H.264 keeps it close."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    t = index / 10
    rgb = np.stack([np.sin(6 * xx + t), np.cos(5 * yy - t), np.sin(4 * (xx + yy) + 2 * t)], axis=-1)
    return ((rgb + 1) * 120 + 8).astype(np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse) if mse else float("inf")


def decode(path, *, allow_cut_tail=False):
    frames = []
    with av.open(str(path)) as container:
        try:
            for packet in container.demux(video=0):
                frames.extend(f.to_ndarray(format="rgb24") for f in packet.decode())
        except (av.InvalidDataError, av.EOFError):
            if not allow_cut_tail:
                raise
    return frames


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def held_frames(line: str) -> int:
    return int(line.split("holds the ")[1].split(" frames")[0])


def start_record(out, model_arg, *extra, steps=100000, preexec_fn=None):
    return subprocess.Popen([sys.executable, "-m", "app", "record", "--steps", str(steps), "--size", "64",
                             "--out", str(out), "--quiet", *model_arg, *extra], cwd=ROOT, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, preexec_fn=default_stop_signals(preexec_fn))


def wait_for_frames(path: Path, proc, size=4_000, timeout=180):
    """Until ``path`` (the recording's file) holds a few frames."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.stat().st_size > size:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not grow (exit {proc.poll()}): {proc.stderr.read() if proc.poll() is not None else ''}")


@pytest.fixture
def small_disk(tmp_path):
    with mount_small_disk(tmp_path / "small_disk", "512k") as disk:
        yield disk


# ---- 1. never an existing file ---------------------------------------------------------------

def test_a_recording_never_opens_a_file_that_exists(tmp_path):
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"someone's file")
    with pytest.raises(UserError, match="already exists"):
        VideoRecorder(taken, 32, 32)
    assert taken.read_bytes() == b"someone's file"
    # the window's way: the next free numbered name
    with VideoRecorder(taken, 32, 32, unique=True) as recorder:
        recorder.write(make_frame(0, 32, 32))
    assert recorder.path == tmp_path / "taken-2.mp4" and recorder.saved_path == recorder.path
    assert taken.read_bytes() == b"someone's file" and len(decode(recorder.path)) == 1


def test_a_screenshot_never_opens_a_file_that_exists(tmp_path):
    stem = time.strftime("hypnagogia-%Y%m%d-%H%M%S")
    for n in ("", "-2", "-3"):
        (tmp_path / f"{stem}{n}.png").write_bytes(b"keep")
    path = save_png(make_frame(1, 16, 16), tmp_path)
    assert all((tmp_path / f"{stem}{n}.png").read_bytes() == b"keep" for n in ("", "-2", "-3"))
    assert path.stem.startswith("hypnagogia-") and path.read_bytes() != b"keep"


def test_a_recording_without_frames_leaves_no_file(tmp_path):
    for kwargs in ({}, {"staged": True}):
        path = tmp_path / f"empty{len(kwargs)}.mp4"
        recorder = VideoRecorder(path, 32, 32, **kwargs)
        recorder.close()
        assert recorder.saved_path is None and recorder.frames_written == 0
        assert list(tmp_path.iterdir()) == []


# ---- 2. record --out: formats, refusals, .part ----------------------------------------------------

def test_a_staged_recording_never_replaces_a_file_that_took_its_name_meanwhile(tmp_path):
    from app.outputs.sinks import recording_summary
    target = tmp_path / "late.mkv"
    recorder = VideoRecorder(target, 32, 32, staged=True)
    for i in range(3):
        recorder.write(make_frame(i, 32, 32))
    target.write_bytes(b"another program's file")
    recorder.close()
    assert target.read_bytes() == b"another program's file"
    assert recorder.saved_path == tmp_path / "late.mkv.part" and len(decode(recorder.saved_path)) == 3
    assert recording_summary(recorder) == (f"recording saved as {recorder.saved_path} (3 frames): {target} "
                                           f"appeared meanwhile and was left alone")


@pytest.mark.parametrize("suffix, format_name", [(".mp4", "mp4"), (".mov", "mov"), (".mkv", "matroska"),
                                                 (".gif", "gif")])
def test_each_extension_gets_its_container(tmp_path, suffix, format_name):
    path = tmp_path / f"clip{suffix}"
    sources = [make_frame(i, 48, 64) for i in range(12)]
    with VideoRecorder(path, 64, 48, fps=25) as recorder:
        for frame in sources:
            recorder.write(frame)
    assert recorder.frames_written == 12
    with av.open(str(path)) as container:
        assert format_name in container.format.name.split(",")
    decoded = decode(path)
    assert len(decoded) == 12
    floor = 22 if suffix == ".gif" else 30          # a GIF has 256 colours per frame
    assert all(psnr(d, s) > floor for d, s in zip(decoded, sources))


@pytest.mark.parametrize("name, needle", [("x.avi", "ends in .avi"), ("noext", "has no extension"),
                                          ("x.webm", "ends in .webm")])
def test_an_unknown_extension_is_refused_in_one_line(tmp_path, model_arg, name, needle):
    result = run_cli("record", "--steps", "3", "--size", "64", "--quiet", "--out", str(tmp_path / name), *model_arg)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert needle in line and ".mp4, .mkv, .mov or .gif" in line
    assert list(tmp_path.iterdir()) == []


def test_record_writes_mkv_mov_and_gif_by_extension(tmp_path, model_arg):
    for suffix, format_name in ((".mkv", "matroska"), (".mov", "mov"), (".gif", "gif")):
        out = tmp_path / f"dream{suffix}"
        result = run_cli("record", "--steps", "8", "--size", "64", "--quiet", "--out", str(out), *model_arg)
        assert result.returncode == 0, result.stderr
        with av.open(str(out)) as container:
            assert format_name in container.format.name.split(",")
        assert len(decode(out)) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dream.gif", "dream.mkv", "dream.mov"]


def test_record_refuses_an_existing_out_unless_overwrite(tmp_path, model_arg):
    out = tmp_path / "x.mp4"
    out.write_bytes(b"precious")
    refused = run_cli("record", "--steps", "4", "--size", "64", "--quiet", "--out", str(out), *model_arg)
    assert refused.returncode == 2 and "--overwrite" in one_line(refused.stderr)
    assert out.read_bytes() == b"precious"
    replaced = run_cli("record", "--steps", "4", "--size", "64", "--quiet", "--out", str(out), "--overwrite",
                       *model_arg)
    assert replaced.returncode == 0, replaced.stderr
    assert len(decode(out)) == 4 and sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]


def test_record_refuses_its_own_source_by_any_path(tmp_path, model_arg):
    source = tmp_path / "s.mp4"
    shutil.copy(ROOT / "assets" / "sample.mp4", source)
    before = source.read_bytes()
    (tmp_path / "link.mp4").symlink_to(source)
    os.link(source, tmp_path / "hard.mp4")
    for src, out in ((source, source), (tmp_path / "link.mp4", source), (source, tmp_path / "hard.mp4"),
                     (source, tmp_path / "sub" / ".." / "s.mp4")):
        result = run_cli("record", "--source", str(src), "--steps", "4", "--size", "64", "--quiet", "--out",
                         str(out), "--overwrite", *model_arg)
        assert result.returncode == 2 and "is the --source itself" in one_line(result.stderr), (src, out)
    assert source.read_bytes() == before
    # the sample clip by name, and stdin when it is the file
    sample = run_cli("record", "--steps", "2", "--size", "64", "--quiet", "--overwrite", "--out",
                     str(ROOT / "assets" / "sample.mp4"), *model_arg)
    assert sample.returncode == 2 and "is the --source itself" in one_line(sample.stderr)
    with open(source, "rb") as stdin:
        piped = subprocess.run([sys.executable, "-m", "app", "record", "--source", "-", "--steps", "2", "--size",
                                "64", "--quiet", "--overwrite", "--out", str(source), *model_arg], cwd=ROOT,
                               stdin=stdin, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 2 and "is the --source itself" in one_line(piped.stderr)
    assert source.read_bytes() == before


def test_two_recordings_to_one_path_the_second_is_refused_and_the_first_is_intact(tmp_path, model_arg):
    out = tmp_path / "one.mp4"
    first = start_record(out, model_arg)
    try:
        wait_for_frames(tmp_path / "one.mp4.part", first)
        for extra in ([], ["--overwrite"]):
            second = run_cli("record", "--steps", "4", "--size", "64", "--quiet", "--out", str(out), *extra,
                             *model_arg)
            assert second.returncode == 2 and "another recording is writing" in one_line(second.stderr)
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 130, err
    assert len(decode(out)) == held_frames(one_line(err)) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mp4"]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_killed_record_leaves_a_playable_part_that_is_never_overwritten_silently(tmp_path, model_arg, suffix):
    out = tmp_path / f"crash{suffix}"
    part = tmp_path / f"crash{suffix}.part"
    proc = start_record(out, model_arg)
    try:
        wait_for_frames(part, proc, size=20_000)
        time.sleep(random.uniform(0, 0.3))
    finally:
        proc.kill()
        proc.wait()
    assert not out.exists()
    kept = decode(part, allow_cut_tail=True)
    assert len(kept) > 0 and kept[0].shape == (64, 64, 3)
    again = run_cli("record", "--steps", "3", "--size", "64", "--quiet", "--out", str(out), *model_arg)
    assert again.returncode == 2 and "left from an interrupted recording" in one_line(again.stderr)
    assert len(decode(part, allow_cut_tail=True)) == len(kept)
    replaced = run_cli("record", "--steps", "3", "--size", "64", "--quiet", "--out", str(out), "--overwrite",
                       *model_arg)
    assert replaced.returncode == 0, replaced.stderr
    assert len(decode(out)) == 3 and not part.exists()


# Child process for kill -9 of other containers: records until killed, printing frames_written.
CHILD = "import sys\nimport numpy as np\n" + """
from app.outputs.recorder import VideoRecorder
def make_frame(i, n):
    yy, xx = np.mgrid[0:n, 0:n] / n
    rgb = np.stack([np.sin(6 * xx + i / 10), np.cos(5 * yy - i / 10), np.sin(4 * (xx + yy) + i / 5)], axis=-1)
    return ((rgb + 1) * 120 + 8).astype(np.uint8)
recorder = VideoRecorder(sys.argv[1], 96, 96)
index = 0
while True:
    recorder.write(make_frame(index, 96))
    index += 1
    print(recorder.frames_written, flush=True)
"""


@pytest.mark.parametrize("suffix", [".mkv", ".mov", ".gif"])
def test_kill_9_keeps_every_frame_reported_written_in_every_container(tmp_path, suffix):
    path = tmp_path / f"killed{suffix}"
    target = random.randint(2, 30)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        reported = 0
        for line in child.stdout:
            reported = int(line)
            if reported >= target:
                break
        time.sleep(random.uniform(0, 0.05))
    finally:
        child.kill()
        child.wait()
    assert reported >= target
    assert len(decode(path, allow_cut_tail=True)) >= reported, f"killed after {target}"


# ---- 3. signals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("trial", range(3))
def test_a_stop_signal_at_a_random_moment_ends_record_in_one_line_with_a_playable_file(tmp_path, model_arg,
                                                                                         signum, trial):
    """From start-up (imports, model, GL) to well into the recording: one line, exit 128 + signal,
    and either a file holding exactly the frames stated or, before the first frame, no file. (From
    the moment main() takes the signals over: see ``taken_over``.)"""
    out = tmp_path / "sig.mp4"
    moment = random.uniform(0.0, 7.0)
    proc = start_record(out, model_arg)
    try:
        taken_over(proc)
        time.sleep(moment)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    line = one_line(err)
    assert proc.returncode == 128 + signum, err
    assert line.startswith(f"hypnagogia: interrupted by {signal.Signals(signum).name}"), line
    assert not (tmp_path / "sig.mp4.part").exists(), f"a .part was left after {moment:.2f} s"
    if "holds the" in line:
        assert len(decode(out)) == held_frames(line), f"signal after {moment:.2f} s"
    else:
        assert "nothing was written" in line or "no file was left" in line, line
        assert not out.exists(), f"signal after {moment:.2f} s"


def test_sigint_inherited_ignored_still_ends_record_gracefully(tmp_path, model_arg):
    """`record … &` from a script: the child inherits SIGINT ignored; record takes it back."""
    out = tmp_path / "bg.mp4"
    proc = start_record(out, model_arg, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        wait_for_frames(tmp_path / "bg.mp4.part", proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert len(decode(out)) == held_frames(one_line(err)) > 0


def test_sighup_inherited_ignored_stays_ignored(tmp_path, model_arg):
    """nohup: SIGHUP ignored on purpose stays ignored; the recording runs to its end."""
    out = tmp_path / "nohup.mp4"
    proc = start_record(out, model_arg, steps=60, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        wait_for_frames(tmp_path / "nohup.mp4.part", proc)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert len(decode(out)) == 60


@pytest.mark.parametrize("entry", ["module", "script"])
def test_ctrl_c_in_the_first_moments_prints_one_line_and_no_traceback(tmp_path, entry):
    """While the program loads its libraries (torch, GL, the model): `python -m app` and the
    installed console script."""
    command = [sys.executable, "-m", "app"] if entry == "module" else \
        [os.path.join(os.path.dirname(sys.executable), "hypnagogia")]
    for moment in (0.0, 0.05, 0.2, 0.6, 1.2):
        proc = subprocess.Popen([*command, "record", "--steps", "5", "--quiet", "--out", str(tmp_path / "early.mp4")],
                                cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        taken_over(proc)
        time.sleep(moment)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            continue           # it was quicker than the signal
        assert proc.returncode == 130, err
        assert "interrupted by SIGINT" in one_line(err), moment
        assert not (tmp_path / "early.mp4.part").exists()
        (tmp_path / "early.mp4").unlink(missing_ok=True)


# ---- 4. sources: pipes, damaged files, a source that fails mid-run ---------------------------------

# Writes ``count`` frames of a video stream in container ``fmt`` to stdout (or to argv[3]).
STREAM_WRITER = """
import sys, time
from fractions import Fraction
import av, numpy as np
fmt, count = sys.argv[1], int(sys.argv[2])
out = open(sys.argv[3], "wb") if len(sys.argv) > 3 else sys.stdout.buffer
pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
codec = {"yuv4mpegpipe": "rawvideo", "matroska": "libx264", "mpegts": "libx264", "nut": "ffv1"}[fmt]
options = {"cluster_size_limit": "1", "cluster_time_limit": "0", "flush_packets": "1"} if fmt == "matroska" else {}
container = av.open(out, "w", format=fmt, options=options)
stream = container.add_stream(codec, rate=30)
stream.width = stream.height = 96
stream.pix_fmt = "yuv420p"
if codec == "libx264":
    stream.options = {"tune": "zerolatency"}
for i in range(count):
    rgb = np.random.default_rng(i).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    frame.pts, frame.time_base = i, Fraction(1, 30)
    for packet in stream.encode(frame):
        container.mux(packet)
    out.flush()
if pause:
    time.sleep(pause)            # a writer that stalls, the pipe still open
for packet in stream.encode(None):
    container.mux(packet)
container.close()
"""


@pytest.mark.parametrize("fmt", ["yuv4mpegpipe", "matroska", "mpegts"])
def test_stdin_stream_is_recorded_and_its_end_keeps_every_frame_in_flight(tmp_path, model_arg, fmt):
    """30 frames piped in, 100 steps asked: the stream's end is said in one line, and the file holds
    all 30 frames (the ones still in the readback ring included)."""
    out = tmp_path / "piped.mp4"
    writer = subprocess.Popen([sys.executable, "-c", STREAM_WRITER, fmt, "30"], stdout=subprocess.PIPE)
    result = subprocess.run([sys.executable, "-m", "app", "record", "--source", "-", "--steps", "100", "--size",
                             "64", "--quiet", "--out", str(out), *model_arg], cwd=ROOT, stdin=writer.stdout,
                            capture_output=True, text=True, timeout=300)
    writer.stdout.close()
    writer.wait()
    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    assert "ended after 30 frames" in line and held_frames(line) == 30
    assert len(decode(out)) == 30 and not (tmp_path / "piped.mp4.part").exists()


def test_a_named_pipe_is_read_as_a_stream(tmp_path, model_arg):
    fifo = tmp_path / "video.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "fifo.mp4"
    writer = subprocess.Popen([sys.executable, "-c", STREAM_WRITER, "matroska", "40", str(fifo)])
    result = run_cli("record", "--source", str(fifo), "--steps", "25", "--size", "64", "--quiet", "--out", str(out),
                     *model_arg)
    writer.kill()
    writer.wait()
    assert result.returncode == 0, result.stderr
    assert len(decode(out)) == 25


def test_a_stalled_pipe_still_ends_on_a_signal(tmp_path, model_arg):
    fifo = tmp_path / "stall.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "stall.mp4"
    writer = subprocess.Popen([sys.executable, "-c", STREAM_WRITER, "matroska", "20", str(fifo), "600"])
    proc = start_record(out, model_arg, "--source", str(fifo))
    try:
        wait_for_frames(tmp_path / "stall.mp4.part", proc, size=2_000)
        time.sleep(2.0)                      # by now the loop waits for a frame the writer does not send
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        writer.kill()
        writer.wait()
    assert proc.returncode == 143, err
    assert len(decode(out)) == held_frames(one_line(err)) >= 15


def test_raw_frames_on_a_pipe_are_refused_with_a_true_line(tmp_path, model_arg):
    raw = np.random.default_rng(0).integers(0, 256, 96 * 96 * 3 * 20, dtype=np.uint8).tobytes()
    result = subprocess.run([sys.executable, "-m", "app", "record", "--source", "-", "--steps", "5", "--size", "64",
                             "--quiet", "--out", str(tmp_path / "raw.mp4"), *model_arg], cwd=ROOT, input=raw,
                            capture_output=True, timeout=300)
    assert result.returncode == 2
    line = one_line(result.stderr.decode())
    assert "not a container libav recognises" in line and "raw frames" in line
    assert list(tmp_path.iterdir()) == []


def test_a_named_pipe_is_not_reported_as_missing(tmp_path):
    from app.sources import open_source
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen([sys.executable, "-c", STREAM_WRITER, "nut", "12", str(fifo)])
    source = open_source(str(fifo), 32)
    frames = [source.read() for _ in range(12)]
    with pytest.raises(UserError, match="ended after 12 frames"):
        source.read()
    source.close()
    writer.wait()
    assert all(f.shape == (32, 32, 3) for f in frames)


def test_a_stream_in_realtime_ends_on_its_last_frame_and_says_so(tmp_path):
    """The window's way (realtime): at the stream's end the last frame stays and ``message`` says why."""
    from app.sources import open_source
    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen([sys.executable, "-c", STREAM_WRITER, "nut", "9", str(fifo)])
    source = open_source(str(fifo), 32, realtime=True)
    frames, deadline = [], time.monotonic() + 30
    while "ended" not in source.message and time.monotonic() < deadline:
        frame = source.read()
        if frame is not None:
            frames.append(frame)
        time.sleep(0.005)
    source.close()
    writer.wait()
    assert len(frames) == 9 and "ended after 9 frames" in source.message and "last frame stays" in source.message
    assert source.read() is None


def test_the_window_gives_up_a_pipe_nobody_writes_and_leaves_it_for_the_next_reader(tmp_path, monkeypatch):
    import app.sources.video as video
    from app.sources import open_source
    monkeypatch.setattr(video, "FIRST_FRAME_TIMEOUT_S", 0.5)
    fifo = tmp_path / "quiet.fifo"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="sent no frame in"):
        open_source(str(fifo), 32, realtime=True)
    writer = subprocess.Popen([sys.executable, "-c", STREAM_WRITER, "nut", "6", str(fifo)])
    source = open_source(str(fifo), 32)
    frames = [source.read() for _ in range(6)]
    source.close()
    writer.wait()
    assert all(f is not None for f in frames)


def test_a_stop_signal_ends_a_record_waiting_for_its_pipe_to_open(tmp_path, model_arg):
    fifo = tmp_path / "nobody.fifo"
    os.mkfifo(fifo)
    proc = start_record(tmp_path / "never.mp4", model_arg, "--source", str(fifo))
    try:
        time.sleep(6.0)                          # long after start-up: waiting for a writer
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert one_line(err) == "hypnagogia: interrupted by SIGTERM while starting: nothing was written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nobody.fifo"]


def test_a_cut_off_source_keeps_libav_quiet_and_says_so_in_one_line(tmp_path, model_arg):
    """A fragmented MP4 cut in the middle of a frame: libav would print its complaints on every loop
    back; the user gets one line, and every step a frame."""
    whole = tmp_path / "whole.mp4"
    with VideoRecorder(whole, 96, 96) as recorder:
        for i in range(40):
            recorder.write(make_frame(i, 96, 96))
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 2 + 37])
    out = tmp_path / "from-cut.mp4"
    result = run_cli("record", "--source", str(cut), "--steps", "60", "--size", "64", "--quiet", "--out", str(out),
                     *model_arg)
    assert result.returncode == 0, result.stderr
    line = one_line(result.stderr)
    assert "cut.mp4 is damaged or cut off" in line and "@ 0x" not in result.stderr
    assert len(decode(out)) == 60


# ---- 5. disk full ----------------------------------------------------------------------------------

def test_a_disk_already_full_leaves_no_empty_file(small_disk):
    fill(small_disk)
    for kwargs in ({}, {"staged": True}):
        path = small_disk / f"full{len(kwargs)}.mp4"
        recorder = VideoRecorder(path, 128, 128, **kwargs)
        with pytest.raises(UserError) as raised:
            for i in range(20):
                recorder.write(make_frame(i, 128, 128))
            recorder.close()
        recorder.close()
        assert str(raised.value) == f"disk full while recording {path}: no frame fit, so no file is left; free " \
                                    f"some space and record again"
        assert recorder.saved_path is None
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_record_onto_a_full_disk_says_so_in_one_line_and_leaves_nothing(small_disk, model_arg):
    fill(small_disk)
    out = small_disk / "full.mp4"
    result = run_cli("record", "--steps", "30", "--size", "64", "--quiet", "--out", str(out), *model_arg)
    assert result.returncode == 2
    assert "disk full" in one_line(result.stderr) and "no file is left" in result.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_record_that_fills_the_disk_keeps_the_frames_it_states(small_disk, model_arg):
    fill(small_disk, leave=160 * 1024)
    out = small_disk / "fills.mp4"
    result = run_cli("record", "--source", "noise", "--steps", "2000", "--size", "64", "--output-size", "256x256",
                     "--quiet", "--out", str(out), *model_arg)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(f"hypnagogia: error: disk full while recording {out}: kept "), line
    kept = int(line.split("kept ")[1].split(" frames")[0])
    assert kept > 0 and len(decode(out)) == kept
    assert not (small_disk / "fills.mp4.part").exists()
