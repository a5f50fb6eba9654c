"""Where live audio comes from: an input device through PortAudio (sounddevice), or a sound file
played in real time, heard on the default output when there is one.

PortAudio calls back on a thread of its own: a device's blocks wait in a queue until ``take`` hands
them, in order, to the loop's thread. Opening fails with a UserError of one line (no PortAudio, no
such device, and which devices there are).
"""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np

from app.controllers.sound import read_sound
from app.errors import UserError

MAX_BACKLOG_S = 1.0          # after a stall, older audio than this is dropped rather than analysed late
BLOCK_FRAMES = 512


def _sounddevice():
    try:
        import sounddevice
    except (ImportError, OSError) as e:        # OSError: the package is there, PortAudio is not
        raise UserError("PortAudio is missing (Linux: apt-get install libportaudio2)" if isinstance(e, OSError)
                        else "sounddevice is not installed (pip install sounddevice)") from None
    return sounddevice


def input_devices() -> list[str]:
    """The names of the input devices PortAudio finds ([] without PortAudio)."""
    try:
        sd = _sounddevice()
        return [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
    except UserError:
        return []
    except Exception:                          # PortAudioError: the host API failed to list
        return []


class DeviceInput:
    """A live input: ``name`` picks the first input device whose name contains it (None: the default)."""

    def __init__(self, name: str | None = None):
        try:
            sd = _sounddevice()
        except UserError as e:
            raise UserError(f"no audio input: {e}; a sound file plays without it") from None
        devices = [(i, d) for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]
        if not devices:
            raise UserError("no audio input: PortAudio found no input device; connect a microphone or line in, "
                            "or play a sound file")
        if name is None:
            default = sd.default.device[0]
            picked = next(((i, d) for i, d in devices if i == default), devices[0])
        else:
            picked = next(((i, d) for i, d in devices if name.lower() in d["name"].lower()), None)
            if picked is None:
                raise UserError(f"no audio input named like {name!r}; there are: "
                                f"{', '.join(d['name'] for _, d in devices)}")
        index, device = picked
        self.name = device["name"]
        self.rate = int(device["default_samplerate"])
        self._blocks: queue.SimpleQueue = queue.SimpleQueue()
        try:
            self._stream = sd.InputStream(device=index, channels=1, samplerate=self.rate, dtype="float32",
                                          blocksize=BLOCK_FRAMES, callback=self._callback)
            self._stream.start()
        except Exception as e:                 # PortAudioError: busy, unplugged, refused
            raise UserError(f"cannot open audio input {self.name}: {str(e).splitlines()[0] if str(e) else e}") from None
        self.message = f"listening to {self.name} at {self.rate} Hz"

    def _callback(self, indata, frames, time_info, status) -> None:
        self._blocks.put(indata[:, 0].copy())

    def take(self, now: float) -> np.ndarray:
        """The samples that arrived since the last take (at most MAX_BACKLOG_S of them)."""
        if self._stream is not None and not self._stream.active:
            self.message = f"{self.name} stopped sending sound (unplugged?): pick an input again"
        blocks = []
        while True:
            try:
                blocks.append(self._blocks.get_nowait())
            except queue.Empty:
                break
        samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        return samples[-int(MAX_BACKLOG_S * self.rate):]

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


class FilePlayback:
    """A sound file, looped, in real time: the output device's clock where it plays out loud, else the
    host's clock (it is then analysed without being heard)."""

    def __init__(self, path: str | Path):
        sound = read_sound(path)
        self.name, self.rate = sound.name, sound.rate
        self._heard = np.ascontiguousarray(sound.samples.T)             # (n, channels) for the output
        self._mono = sound.mono()
        self._played = 0            # samples the output device has played (its thread writes it)
        self._taken = 0
        self._started: float | None = None
        self._stream = None
        try:
            sd = _sounddevice()
            if not any(d["max_output_channels"] > 0 for d in sd.query_devices()):
                raise UserError("PortAudio found no output device")
            self._stream = sd.OutputStream(samplerate=self.rate, channels=sound.channels, dtype="float32",
                                           callback=self._callback)
            self._stream.start()
            self.message = f"playing {self.name}"
        except Exception as e:                 # UserError (no PortAudio, no device) or PortAudioError (refused)
            self._stream = None
            reason = str(e).splitlines()[0] if str(e) else "the output device refused"
            self.message = f"playing {self.name} silently ({reason}): analysed, not heard"

    def _callback(self, outdata, frames, time_info, status) -> None:
        n = len(self._mono)
        index = (self._played + np.arange(frames)) % n
        outdata[:] = self._heard[index]
        self._played += frames

    def take(self, now: float) -> np.ndarray:
        if self._stream is not None:
            position = self._played
        else:
            if self._started is None:
                self._started = now
            position = int((now - self._started) * self.rate)
        position = max(position, self._taken)
        start = max(self._taken, position - int(MAX_BACKLOG_S * self.rate))
        self._taken = position
        return self._mono[np.arange(start, position) % len(self._mono)]

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
