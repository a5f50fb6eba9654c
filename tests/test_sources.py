import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import app.sources
from app.errors import UserError
from app.sources import (
    FallbackSource,
    ImageSource,
    NoiseSource,
    ShapesSource,
    VideoFileSource,
    WebcamSource,
    open_source,
)
from app.sources.fit import fit_square
from app.sources.photos import VALIDATION_PHOTOS, bundled_photos, training_photos, validation_photos

RED_BGR = (0, 0, 255)
# Distinct flat grey levels, so a decoded frame tells which source frame it was.
GREY_LEVELS = [20, 50, 80, 110, 140, 170, 200, 230]


def write_video(path: Path, frames_bgr: list[np.ndarray], fps: float = 30, fourcc: str = "MJPG") -> Path:
    height, width = frames_bgr[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"cv2 cannot write {path}"
    for frame in frames_bgr:
        writer.write(frame)
    writer.release()
    return path


def grey_video(path: Path, fps: float = 30) -> Path:
    return write_video(path, [np.full((48, 80, 3), level, np.uint8) for level in GREY_LEVELS], fps)


def grey_index(frame: np.ndarray) -> int:
    return int(np.argmin([abs(float(frame.mean()) - level) for level in GREY_LEVELS]))


def read_within(source, seconds: float) -> np.ndarray | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = source.read()
        if frame is not None:
            return frame
        time.sleep(0.01)
    return None


def assert_frame(frame: np.ndarray | None, size: int) -> None:
    assert frame is not None
    assert frame.shape == (size, size, 3)
    assert frame.dtype == np.uint8
    assert frame.flags.c_contiguous


def assert_one_line_naming(error: pytest.ExceptionInfo, path: Path) -> None:
    message = str(error.value)
    assert path.name in message
    assert "\n" not in message


# fit


@pytest.mark.parametrize("height, width", [(480, 640), (640, 480), (100, 300), (64, 64), (30, 50), (1, 200)])
def test_fit_square_returns_requested_square(height, width):
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    assert_frame(fit_square(frame, 64), 64)


def test_fit_square_crops_around_the_centre():
    frame = np.zeros((300, 500, 3), np.uint8)
    frame[140:160, 240:260] = 255  # a marker exactly in the middle
    fitted = fit_square(frame, 60)
    rows, cols = np.nonzero(fitted[..., 0] > 128)
    assert rows.size > 0
    assert rows.mean() == pytest.approx(29.5, abs=0.6)
    assert cols.mean() == pytest.approx(29.5, abs=0.6)
    # 300 px square shrunk to 60 px: the 20 px marker becomes about 4 px wide.
    assert 3 <= cols.max() - cols.min() + 1 <= 5


def test_fit_square_grows_small_frames():
    frame = np.zeros((10, 20, 3), np.uint8)
    frame[:, 10:] = 200  # right half of the centre crop is bright
    fitted = fit_square(frame, 40)
    assert fitted[:, :15].max() < 20
    assert fitted[:, 25:].min() > 180


def test_png_frames_come_out_rgb(tmp_path):
    path = tmp_path / "red.png"
    cv2.imwrite(str(path), np.full((40, 60, 3), RED_BGR, np.uint8))
    frame = ImageSource(path, 32).read()
    assert_frame(frame, 32)
    assert frame[..., 0].min() > 240
    assert frame[..., 1:].max() < 15


def test_video_frames_come_out_rgb(tmp_path):
    path = write_video(tmp_path / "red.mp4", [np.full((48, 64, 3), RED_BGR, np.uint8)] * 3, fourcc="mp4v")
    frame = VideoFileSource(path, 32).read()
    assert_frame(frame, 32)
    assert frame[..., 0].mean() > 200
    assert frame[..., 1:].mean() < 40


# video


def test_video_loops_in_fixed_step(tmp_path):
    source = open_source(str(grey_video(tmp_path / "grey.avi")), 32)
    frames = [source.read() for _ in range(3 * len(GREY_LEVELS) + 2)]
    source.close()
    for frame in frames:
        assert_frame(frame, 32)
    assert [grey_index(frame) for frame in frames] == [i % len(GREY_LEVELS) for i in range(len(frames))]
    wrapped = len(GREY_LEVELS)
    assert np.abs(frames[wrapped].astype(int) - frames[0]).max() <= 2
    assert np.abs(frames[wrapped].astype(int) - frames[wrapped - 1]).mean() > 100


def test_video_realtime_follows_the_clock(tmp_path):
    source = VideoFileSource(grey_video(tmp_path / "grey.avi", fps=10), 32, realtime=True)
    assert grey_index(source.read()) == 0
    assert source.read() is None  # the next frame is not due for 100 ms
    time.sleep(0.35)
    frame = source.read()
    source.close()
    assert frame is not None
    assert grey_index(frame) >= 3  # frames that were due while we slept are skipped


def test_missing_video_is_a_user_error(tmp_path):
    path = tmp_path / "nowhere.mp4"
    with pytest.raises(UserError, match="file not found") as error:
        open_source(str(path), 32)
    assert_one_line_naming(error, path)


def test_text_file_posing_as_video_is_a_user_error(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are not frames\n")
    with pytest.raises(UserError, match="not a video") as error:
        open_source(str(path), 32)
    assert_one_line_naming(error, path)


def test_video_without_frames_is_a_user_error(tmp_path):
    path = tmp_path / "empty.avi"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 64)).release()
    assert path.stat().st_size > 0
    with pytest.raises(UserError, match="no frames") as error:
        open_source(str(path), 32)
    assert_one_line_naming(error, path)


# image


def test_png_round_trip_delivers_once(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    source = open_source(str(path), 48)
    assert isinstance(source, ImageSource)
    assert source.name == "still.png"
    frame = source.read()
    assert_frame(frame, 48)
    np.testing.assert_array_equal(frame, rgb)
    assert source.read() is None


@pytest.mark.parametrize("content, reason", [(None, "file not found"), ("plain text", "not an image")])
def test_unreadable_image_is_a_user_error(tmp_path, content, reason):
    path = tmp_path / "picture.jpg"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=reason) as error:
        open_source(str(path), 32)
    assert_one_line_naming(error, path)


# procedural


def test_shapes_move_smoothly_and_repeat_with_the_seed():
    first, again, other = ShapesSource(64, seed=3), ShapesSource(64, seed=3), ShapesSource(64, seed=4)
    frames = [first.read() for _ in range(10)]
    for frame in frames:
        assert_frame(frame, 64)
    steps = [np.abs(a.astype(int) - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(steps) > 0.05  # something moves every step
    assert max(steps) < 20  # but smoothly, not jumping to a new picture
    for frame in frames:
        np.testing.assert_array_equal(again.read(), frame)
    assert not np.array_equal(other.read(), frames[0])


def test_noise_is_uniform_fresh_and_seeded():
    source = open_source("noise", 128)
    frames = [source.read() for _ in range(3)]
    assert_frame(frames[0], 128)
    values = np.stack(frames).astype(np.float64)
    assert values.mean() == pytest.approx(127.5, abs=1.5)
    assert values.std() == pytest.approx(73.9, abs=1.5)  # uniform over 0..255
    assert values.min() == 0 and values.max() == 255
    assert not np.array_equal(frames[0], frames[1])
    np.testing.assert_array_equal(NoiseSource(128).read(), frames[0])


# webcam and fallback


def test_missing_webcam_falls_back_without_stopping():
    # An index far beyond any real camera, so the test means the same on machines that have one.
    source = open_source("webcam:63", 64)
    frames = [source.read() for _ in range(5)]
    source.close()
    for frame in frames:
        assert_frame(frame, 64)
    assert "webcam" in source.message and "63" in source.message
    assert "\n" not in source.message
    assert source.name in ("sample.mp4", "shapes")


def test_webcam_falls_back_to_shapes_without_the_sample_clip(tmp_path, monkeypatch):
    monkeypatch.setattr(app.sources, "SAMPLE_CLIP", tmp_path / "gone.mp4")
    source = open_source("webcam:63", 32)
    assert source.name == "shapes"
    assert_frame(source.read(), 32)
    with pytest.raises(UserError, match="python -m app.sources.sample_clip"):
        open_source("sample", 32)


def test_bad_webcam_index_is_a_user_error():
    with pytest.raises(UserError, match="webcam:N"):
        open_source("webcam:front", 32)


def test_webcam_that_stops_delivering_reports_lost(tmp_path):
    source = WebcamSource(str(grey_video(tmp_path / "camera.avi")), 32)
    assert_frame(read_within(source, 5.0), 32)
    deadline = time.monotonic() + 5.0
    while not source.lost and time.monotonic() < deadline:
        source.read()
        time.sleep(0.02)
    source.close()
    assert source.lost
    assert "lost" in source.message and "camera.avi" in source.message


def test_fallback_takes_over_when_the_camera_is_lost(tmp_path):
    camera = grey_video(tmp_path / "camera.avi")
    source = FallbackSource(lambda: WebcamSource(str(camera), 32), lambda: ShapesSource(32))
    assert source.name == "camera.avi"
    assert source.message == ""
    assert_frame(read_within(source, 5.0), 32)
    deadline = time.monotonic() + 5.0
    while not source.message and time.monotonic() < deadline:
        source.read()
        time.sleep(0.02)
    assert "camera.avi lost" in source.message and "shapes" in source.message
    assert source.name == "shapes"
    for _ in range(5):
        assert_frame(source.read(), 32)
    source.close()


# bundled photos


def test_bundled_photos_are_natural_rgb_images():
    photos = bundled_photos()
    assert len(photos) == 11
    for name, photo in photos.items():
        assert photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.uint8, name
        assert min(photo.shape[:2]) >= 256, name
        assert photo.std() > 20, name  # real picture content, not a flat placeholder
        assert not photo.flags.writeable, name


def test_validation_photos_are_held_out_of_training():
    training, validation = training_photos(), validation_photos()
    assert set(validation) == set(VALIDATION_PHOTOS)
    assert not set(training) & set(validation)
    assert set(training) | set(validation) == set(bundled_photos())
