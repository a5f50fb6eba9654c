"""Sound files decoded whole with PyAV (WAV, FLAC, MP3, OGG, M4A, … whatever libav reads)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.errors import UserError

# Rates AAC holds in blocks of at most 32 ms (a recording's sound is AAC, and its end is a block's
# end); a file at another rate is resampled to 48 kHz.
RATES = (96000, 88200, 64000, 48000, 44100, 32000)


@dataclass(frozen=True)
class Sound:
    samples: np.ndarray          # (channels, n) float32, −1…1
    rate: int
    name: str

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def frames(self) -> int:
        return self.samples.shape[1]

    @property
    def duration(self) -> float:
        return self.frames / self.rate

    def mono(self) -> np.ndarray:
        return self.samples.mean(axis=0, dtype=np.float32) if self.channels > 1 else self.samples[0]


def read_sound(path: str | Path) -> Sound:
    """The whole file as float samples at its own rate (48 kHz if not one of RATES), in mono
    or stereo (more channels are mixed down to two); UserError with one line when it cannot be read."""
    import av

    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"sound file {path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise UserError(f"{path.name} holds no sound: give a WAV, FLAC, MP3, OGG or a video with sound")
            stream = container.streams.audio[0]
            rate = stream.rate if stream.rate in RATES else 48000
            layout = "mono" if stream.channels == 1 else "stereo"
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            chunks = []
            for frame in container.decode(stream):
                chunks += [f.to_ndarray() for f in resampler.resample(frame)]
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
    except av.FFmpegError as e:
        raise UserError(f"cannot read sound from {path.name}: {e.strerror or e}; give a WAV, FLAC, MP3 or OGG "
                        f"file") from None
    if not chunks:
        raise UserError(f"{path.name} holds no sound samples")
    samples = np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32)
    return Sound(np.clip(samples, -1.0, 1.0), rate, path.name)
