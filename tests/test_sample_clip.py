from pathlib import Path

import av
import numpy as np

from app.sources import SAMPLE_CLIP, open_source
from app.sources.sample_clip import MAX_FILE_BYTES, ClipRenderer, main, make_sample_clip


def decode_rgb(path: Path) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return frames, float(stream.average_rate)


def test_small_clip_decodes_with_the_right_frame_count(tmp_path):
    out = make_sample_clip(tmp_path / "clip.mp4", size=64, seconds=2.0, fps=15, progress=False)
    frames, fps = decode_rgb(out)
    assert len(frames) == 30
    assert fps == 15
    assert frames[0].shape == (64, 64, 3)
    assert not (tmp_path / "clip.mp4.partial").exists()


def test_clip_moves_smoothly_through_a_cross_fade():
    renderer = ClipRenderer(size=64, frame_count=720, fps=30, seed=0)
    # Scenes last 3 s and cross-fade over their last second: frames 60-90 hold the first fade.
    frames = [renderer.frame(index).astype(int) for index in range(55, 96)]
    steps = [np.abs(a - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(steps) > 0.5  # the picture keeps changing
    assert max(steps) < 12  # without cuts or flicker between neighbouring frames
    assert np.abs(frames[0] - renderer.frame(145)).mean() > 3 * max(steps)  # and travels far over 3 s


def test_clip_is_deterministic_and_loops_seamlessly():
    first, again = ClipRenderer(64, 60, 30, seed=5), ClipRenderer(64, 60, 30, seed=5)
    np.testing.assert_array_equal(first.frame(17), again.frame(17))
    # Every motion is periodic in the clip length: the frame after the last is frame 0 again.
    assert np.abs(first.frame(60).astype(int) - first.frame(0)).max() <= 1
    assert not np.array_equal(ClipRenderer(64, 60, 30, seed=6).frame(17), first.frame(17))


def test_command_line_writes_the_clip_or_explains(tmp_path, capsys):
    out = tmp_path / "cli.mp4"
    assert main(["--out", str(out), "--size", "32", "--seconds", "0.5"]) == 0
    assert len(decode_rgb(out)[0]) == 15
    assert main(["--out", str(out), "--size", "33"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("error:") and "even size" in error[-1]


def test_shipped_sample_clip_is_long_small_and_decodable():
    assert SAMPLE_CLIP.is_file(), "rebuild it with: python -m app.sources.sample_clip"
    assert SAMPLE_CLIP.stat().st_size <= MAX_FILE_BYTES
    frames, fps = decode_rgb(SAMPLE_CLIP)
    assert len(frames) / fps >= 20
    height, width = frames[0].shape[:2]
    assert height == width >= 128
    source = open_source("sample", 64)
    assert source.read().shape == (64, 64, 3)
    source.close()
