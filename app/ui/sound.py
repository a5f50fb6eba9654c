"""Clicks through the sound card, one per spike of the probed unit (optional: needs sounddevice and PortAudio).

``ClickPlayer.open()`` returns a player, or raises ``SoundUnavailable`` with one line saying why (the
package or the library missing, no output device). Spike times are seconds on ``time.monotonic``'s clock;
each click is a 3 ms decaying burst, placed in the output stream at its time plus a fixed latency.
"""

from __future__ import annotations

import threading
import time

import numpy as np

SAMPLE_RATE = 44100
LATENCY_S = 0.08
CLICK = (np.exp(-np.arange(int(0.003 * SAMPLE_RATE)) / (0.0006 * SAMPLE_RATE))
         * np.sign(np.sin(np.arange(int(0.003 * SAMPLE_RATE)) * 2 * np.pi * 2500 / SAMPLE_RATE))).astype(np.float32) * 0.5


class SoundUnavailable(RuntimeError):
    pass


def click_samples(spikes: list[float], start: float, frames: int, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The mono samples of the ``frames`` samples from time ``start``, with a click at every spike time."""
    out = np.zeros(frames + len(CLICK), np.float32)
    for t in spikes:
        at = int(round((t - start) * rate))
        if -len(CLICK) < at < frames:
            lo = max(0, at)
            out[lo:at + len(CLICK)] += CLICK[lo - at:]
    return out[:frames]


class ClickPlayer:
    def __init__(self, stream):
        self._stream = stream
        self._pending: list[float] = []
        self._lock = threading.Lock()

    @classmethod
    def open(cls) -> ClickPlayer:
        try:
            import sounddevice
        except (ImportError, OSError) as e:       # OSError: the package is there, PortAudio is not
            raise SoundUnavailable(f"no sound: {'PortAudio is missing' if isinstance(e, OSError) else 'sounddevice is not installed'} "
                                   f"(pip install sounddevice; Linux: apt-get install libportaudio2); spikes show in "
                                   f"the plot only") from None
        player = cls(None)
        try:
            stream = sounddevice.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                              callback=player._callback)
            stream.start()
        except Exception as e:                    # PortAudioError: no output device
            raise SoundUnavailable(f"no sound: {str(e).splitlines()[0] if str(e) else 'no output device'}; spikes "
                                   f"show in the plot only") from None
        player._stream = stream
        return player

    def play(self, spikes: list[float]) -> None:
        with self._lock:
            self._pending += [t + LATENCY_S for t in spikes]

    def _callback(self, outdata, frames, time_info, status) -> None:
        start = time.monotonic()
        with self._lock:
            due = [t for t in self._pending if t < start + frames / SAMPLE_RATE]
            self._pending = [t for t in self._pending if t >= start + frames / SAMPLE_RATE]
        outdata[:, 0] = click_samples(due, start, frames)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
