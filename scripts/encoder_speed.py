"""How many frames per second the recorder alone encodes, per x264 preset (docs/performance.md).

    .venv/bin/python scripts/encoder_speed.py [--size 1920x1080] [--presets superfast,veryfast]

The frames are the sample clip scaled up into the middle of the frame with black bars, as the main
view of a square model looks at 16:9; each preset runs --repeats times and the best run counts.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.gl.output import parse_output_size  # noqa: E402
from app.outputs.recorder import VideoRecorder  # noqa: E402


def letterboxed_clip(width: int, height: int, count: int) -> list[np.ndarray]:
    side = min(width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    frames = []
    with av.open(str(ROOT / "assets" / "sample.mp4")) as container:
        for frame in itertools.islice(container.decode(video=0), count):
            canvas = np.zeros((height, width, 3), np.uint8)
            canvas[y0:y0 + side, x0:x0 + side] = cv2.resize(frame.to_ndarray(format="rgb24"), (side, side),
                                                            interpolation=cv2.INTER_LINEAR)
            frames.append(canvas)
    return frames


def frames_per_s(frames: list[np.ndarray], preset: str, threads: int, count: int) -> float:
    height, width = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with VideoRecorder(Path(tmp) / "speed.mp4", width, height, fps=60, preset=preset,
                           threads=threads) as recorder:
            for i in range(count):
                recorder.write(frames[i % len(frames)])
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--presets", default="ultrafast,superfast,veryfast,faster")
    parser.add_argument("--threads", type=int, default=0, help="x264 threads (0: one per core)")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = parse_output_size(args.size)
    frames = letterboxed_clip(width, height, 60)
    for preset in args.presets.split(","):
        best = max(frames_per_s(frames, preset, args.threads, args.frames) for _ in range(args.repeats))
        print(f"{preset:<10} {width}x{height} threads={args.threads or 'auto'}: {best:6.1f} frames/s", flush=True)


if __name__ == "__main__":
    main()
