"""The command line as a user runs it: real subprocesses, real files, real decoding."""

import json
import signal
import subprocess
import sys
import time

import av
import cv2
import numpy as np
import pytest

from conftest import ROOT, run_cli


def decode(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def one_line_error(result, *needles):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hypnagogia")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_record_writes_exactly_the_requested_frames(tmp_path, shipped_checkpoint):
    """The acceptance command as written, with the default model."""
    out = tmp_path / "dream.mp4"
    result = run_cli("record", "--source", "sample", "--steps", "300", "--size", "128", "--out", str(out))
    assert result.returncode == 0, result.stderr
    frames = decode(out)
    assert len(frames) == 300
    assert frames[0].shape == (128, 128, 3)


def test_full_dream_keeps_changing_and_stays_finite(tmp_path, shipped_checkpoint):
    out = tmp_path / "dream.mp4"
    result = run_cli("record", "--source", "sample", "--steps", "60", "--size", "128", "--out", str(out),
                     "--set", "dream=1")
    assert result.returncode == 0, result.stderr
    assert "NaN" not in result.stderr
    frames = np.array(decode(out), np.float32)
    changes = np.abs(np.diff(frames[:51], axis=0)).mean(axis=(1, 2, 3))
    assert (changes > 0.05).all(), f"dream froze: mean change per step {changes.min():.3f}/255"


def test_sigint_leaves_every_written_frame(tmp_path, model_arg):
    out = tmp_path / "cut.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "app", "record", "--steps", "100000", "--size", "64",
                             "--out", str(out), "--quiet", *model_arg], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    part = out.with_name(out.name + ".part")          # where record writes until it ends
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not part.exists() or part.stat().st_size < 20_000):
        time.sleep(0.1)
    time.sleep(np.random.default_rng().uniform(0.0, 1.5))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    written = int(err.split("holds the ")[1].split(" frames")[0])
    assert written > 0
    assert len(decode(out)) == written


def test_missing_webcam_falls_back_and_carries_on(tmp_path, model_arg):
    out = tmp_path / "cam.mp4"
    result = run_cli("record", "--source", "webcam:63", "--steps", "5", "--size", "64", "--out", str(out),
                     "--quiet", *model_arg)
    assert result.returncode == 0, result.stderr
    assert "no webcam at index 63" in result.stderr
    assert len(decode(out)) == 5


@pytest.mark.parametrize("args, needles", [
    (["--source", "no/such/video.mp4"], ["no/such/video.mp4"]),
    (["--set", "dream=banana"], ["dream", "banana"]),
    (["--set", "dreem=1"], ["did you mean dream"]),
    (["--size", "0"], ["--size"]),
    (["--size", "100"], ["multiple of 16"]),
    (["--size", "30"], ["multiple of 4"]),
    (["--steps", "-3"], ["--steps"]),
    (["--output-size", "1919x1080"], ["--output-size", "even", "1920x1080"]),
    (["--output-size", "big"], ["--output-size", "WIDTHxHEIGHT"]),
])
def test_bad_input_gives_one_line(tmp_path, model_arg, args, needles):
    result = run_cli("record", "--out", str(tmp_path / "x.mp4"), *model_arg, *args)
    one_line_error(result, *needles)


def test_text_file_as_checkpoint(tmp_path):
    notes = tmp_path / "notes.safetensors"
    notes.write_text("not weights")
    result = run_cli("record", "--model", str(notes), "--out", str(tmp_path / "x.mp4"))
    one_line_error(result, "not a hypnagogia checkpoint")


def test_checkpoint_of_another_shape(tmp_path, random_checkpoint):
    bad = tmp_path / "reshaped.safetensors"
    bad.write_bytes(random_checkpoint.read_bytes())
    card = json.loads(random_checkpoint.with_suffix(".json").read_text())
    card["architecture"]["config"]["widths"] = [8, 16, 24, 48]
    bad.with_suffix(".json").write_text(json.dumps(card))
    result = run_cli("record", "--model", str(bad), "--out", str(tmp_path / "x.mp4"))
    one_line_error(result, "does not match its card")


def test_bench_writes_json(tmp_path, model_arg):
    out = tmp_path / "bench.json"
    result = run_cli("bench", "--steps", "8", "--warmup", "2", "--size", "64", "--record", "--json", str(out),
                     *model_arg)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["steps_per_s"] > 0 and data["size"] == 64 and data["device"] == "cpu"
    assert {"source", "drive", "mix", "views", "readback", "encode"} <= set(data["stages_ms"])
    assert "steps/s" in result.stdout


def test_record_output_size_scales_the_view_to_fit_with_black_bars(tmp_path, model_arg):
    common = ["record", "--source", "sample", "--steps", "6", "--size", "64", "--quiet", *model_arg]
    natural, scaled = tmp_path / "natural.mp4", tmp_path / "scaled.mp4"
    for out, extra in ((natural, []), (scaled, ["--output-size", "160x128"])):
        result = run_cli(*common, "--out", str(out), *extra)
        assert result.returncode == 0, result.stderr
    natural_frames, scaled_frames = decode(natural), decode(scaled)
    assert len(natural_frames) == len(scaled_frames) == 6
    assert scaled_frames[0].shape == (128, 160, 3)
    for small, big in zip(natural_frames, scaled_frames):
        assert big[:, :12].max() < 24 and big[:, -12:].max() < 24           # bars left and right
        # the 64² view drawn twice as large (linear filtering) in the middle
        upscaled = cv2.resize(small, (128, 128), interpolation=cv2.INTER_LINEAR).astype(float)
        assert np.abs(big[:, 16:144].astype(float) - upscaled).mean() < 4.0


def test_bench_live_paces_the_loop_and_counts_late_ticks_and_drops(tmp_path, model_arg):
    out = tmp_path / "live.json"
    result = run_cli("bench", "--live", "--fps", "30", "--seconds", "1", "--warmup", "2", "--size", "64",
                     "--record", "--output-size", "128x96", "--json", str(out), *model_arg)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    live = data["live"]
    assert data["output"] == [128, 96] and live["fps"] == 30 and live["ticks"] == 30
    assert live["frames"] + live["skipped_ticks"] == 30 and 0 <= live["late_ticks"] <= live["frames"]
    assert live["frames_written"] + live["frames_dropped"] == live["frames"]
    assert live["seconds"] >= 29 / 30
    assert {"drive", "views", "readback", "encode"} <= set(data["stages_ms"])
    assert "late ticks" in result.stdout and "dropped" in result.stdout


def test_bench_pacing_options_need_live(model_arg):
    one_line_error(run_cli("bench", "--fps", "60", *model_arg), "add --live")


def test_info_and_params():
    info = run_cli("info")
    assert info.returncode == 0, info.stderr
    assert "OpenGL (headless EGL): " in info.stdout and "torch device: cpu" in info.stdout
    assert "models:" in info.stdout
    params = run_cli("params")
    assert params.returncode == 0
    assert "dream" in params.stdout and "general.gain_up" in params.stdout and "ff_blur.fb" in params.stdout


def test_record_hold_shows_one_frame_then_dreams(tmp_path, model_arg):
    out = tmp_path / "hold.mp4"
    result = run_cli("record", "--source", "sample", "--steps", "24", "--size", "64", "--hold", "12",
                     "--set", "view=compare", "--out", str(out), "--quiet", *model_arg)
    assert result.returncode == 0, result.stderr
    frames = np.array(decode(out), np.float32)
    inputs = frames[:, :, :64]                       # compare view: input | prediction | error
    assert np.abs(inputs[11] - inputs[2]).mean() < 4.0           # the held frame does not move (codec noise)
    assert np.abs(inputs[20] - inputs[11]).mean() > 10.0         # then the input is the dream
