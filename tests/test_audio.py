"""Audio reactivity with real sound: WAV files of a known beat written with the wave module, decoded by
PyAV, analysed block by block; mappings and triggers through the real registry, action table and hub;
``record --audio`` rendering a music video whose two streams are decoded again; PortAudio with no
sound card."""

from __future__ import annotations

import json
import math
import shutil
import time
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from app.action_table import ActionTable
from app.controllers.audio import AudioReactor
from app.controllers.audio_inputs import input_devices
from app.controllers.hub import Controllers
from app.controllers.settings import Settings
from app.controllers.sound import read_sound
from app.errors import UserError
from app.outputs.recorder import Soundtrack, VideoRecorder
from conftest import LinesHost, controller_registry, run_cli

RATE = 44100
FPS = 30
BPM = 120
FIRST_BEAT_S = 0.25
ZOOM = "feedback.zoom"              # 0.8 … 1.25: a range of 0.45


def write_beat(path: Path, seconds: float = 3.0, bpm: float = BPM, rate: int = RATE, noise: float = 0.03,
               channels: int = 2) -> list[float]:
    """A kick drum (a falling sine, 150 → 50 Hz, decaying) on every beat from FIRST_BEAT_S, over white
    noise, as 16-bit PCM; returns the beat times."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(int(seconds * rate)) * noise
    t = np.arange(int(0.2 * rate)) / rate
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / rate) * np.exp(-t / 0.05)
    beats = list(np.arange(FIRST_BEAT_S, seconds - 0.2, 60 / bpm))
    for b in beats:
        i = round(b * rate)
        x[i:i + len(kick)] += 0.7 * kick[:len(x) - i]
    pcm = (np.clip(np.tile(x, (channels, 1)), -1, 1).T * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return beats


@pytest.fixture(scope="module")
def beat_wav(tmp_path_factory) -> tuple[Path, list[float]]:
    path = tmp_path_factory.mktemp("sound") / "beat.wav"
    return path, write_beat(path)



@pytest.fixture
def hub(tmp_path):
    actions = ActionTable()
    actions.kicks = []
    actions.define("kick", "noise on every layer", lambda _: actions.kicks.append(controllers.now))
    controllers = Controllers(controller_registry(), actions, LinesHost(), Settings(tmp_path / "settings.json"))
    yield controllers
    controllers.close()


def render(hub: Controllers, sound, frames: int | None = None, watch: str = ZOOM) -> tuple[list[int], list[float]]:
    """Feeds ``sound`` one video frame at a time and ticks the hub as ``record`` does; the frames that
    heard an onset and the value of ``watch`` after each tick."""
    mono, onsets, values = sound.mono(), [], []
    for i in range(frames or math.ceil(sound.duration * FPS)):
        hub.audio.feed(mono[round(i * sound.rate / FPS):round((i + 1) * sound.rate / FPS)], sound.rate)
        hub.tick(i / FPS)
        if hub.audio.readouts()["audio.onset"]:
            onsets.append(i)
        values.append(hub.registry[watch])
    return onsets, values


def beat_frames(beats: list[float]) -> list[int]:
    return [math.floor(b * FPS) for b in beats]


def test_a_sound_file_decodes_whole(beat_wav):
    path, _ = beat_wav
    sound = read_sound(path)
    assert (sound.rate, sound.channels, sound.frames) == (RATE, 2, 3 * RATE)
    assert sound.samples.dtype == np.float32 and np.abs(sound.samples).max() > 0.5


@pytest.mark.parametrize("bpm, rate", [(120, 44100), (90, 48000), (174, 44100)])
def test_onsets_land_within_a_frame_of_each_beat(tmp_path, hub, bpm, rate):
    path = tmp_path / "beat.wav"
    beats = write_beat(path, seconds=4.0, bpm=bpm, rate=rate)
    onsets, _ = render(hub, read_sound(path))
    truth = beat_frames(beats)
    assert len(onsets) == len(truth), (onsets, truth)
    assert all(abs(found - true) <= 1 for found, true in zip(onsets, truth)), (onsets, truth)


def test_a_mapped_parameter_moves_on_each_beat(hub, beat_wav):
    path, beats = beat_wav
    hub.registry.set(ZOOM, 0.9)
    hub.audio.map("onset", ZOOM, depth=0.5, smoothing=0.05)        # up to 0.9 + 0.225, falling back quickly
    _, values = render(hub, read_sound(path))
    truth = beat_frames(beats)
    for frame in truth:
        assert max(values[frame:frame + 2]) == pytest.approx(0.9 + 0.225), frame
    between = [round(f + FPS * 30 / BPM) for f in truth[:-1]]      # half way to the next beat
    assert all(values[f] == pytest.approx(0.9, abs=0.225 * math.exp(-0.2 / 0.05)) for f in between)
    assert all(values[f] == pytest.approx(0.9, abs=1e-3) for f in range(truth[0]))
    assert hub.audio.bases() == {ZOOM: 0.9}


def test_the_low_band_swells_with_the_kick(hub, beat_wav):
    path, beats = beat_wav
    hub.registry.set(ZOOM, 1.0)
    hub.audio.map("low", ZOOM, depth=0.4, smoothing=0.0)
    _, values = render(hub, read_sound(path))
    truth = beat_frames(beats)[1:]                 # the auto-gain has heard a kick by then
    on = [max(values[f:f + 3]) for f in truth]
    off = [values[round(f + FPS * 30 / BPM)] for f in truth[:-1]]
    assert min(on) > 1.0 + 0.4 * 0.45 * 0.7 and max(off) < 1.0 + 0.4 * 0.45 * 0.3, (on, off)


def test_an_onset_trigger_kicks_once_per_beat(hub, beat_wav):
    path, beats = beat_wav
    hub.audio.trigger("kick")
    onsets, _ = render(hub, read_sound(path))
    # the kick runs in the same tick as the frame that heard the onset: before that frame's step
    assert [round(t * FPS) for t in hub.actions.kicks] == onsets
    assert len(onsets) == len(beats)


def test_the_base_follows_the_user_and_adds_to_an_lfo(hub, beat_wav):
    path, beats = beat_wav
    r = hub.registry
    r.set(ZOOM, 0.9)
    hub.audio.map("onset", ZOOM, depth=0.2, smoothing=0.0)
    hub.modulators.add_lfo(ZOOM, shape="square", depth=0.1, hz=0.5)       # +0.045 for the first second
    sound = read_sound(path)
    _, values = render(hub, sound, frames=beat_frames(beats)[1] + 1)
    first = beat_frames(beats)[0]
    assert values[first - 1] == pytest.approx(0.945)
    assert values[first] == pytest.approx(0.945 + 0.09)          # the LFO's and the onset's offsets add up
    r.set(ZOOM, 1.1)                                              # the user moves the slider
    hub.tick(1.5)                                                 # the square is low now, no onset
    assert r[ZOOM] == pytest.approx(1.1 - 0.045) and hub.modulators.bases() == {ZOOM: 1.1}
    hub.audio.unmap_address(ZOOM)
    hub.modulators.remove_address(ZOOM)
    hub.tick(1.6)
    assert r[ZOOM] == pytest.approx(1.1) and hub.audio.bases() == {}


def test_json_round_trip_and_bad_entries(hub):
    audio = hub.audio
    audio.map("low", ZOOM, depth=-0.3, smoothing=0.4)
    audio.map("onset", "feedback.rotate", depth=0.5, smoothing=0.2)
    audio.trigger("kick")
    audio.trigger("envelope", "hit")
    saved = json.loads(json.dumps(audio.to_json()))
    assert saved == [{"feature": "low", "address": ZOOM, "depth": -0.3, "smoothing": 0.4},
                     {"feature": "onset", "address": "feedback.rotate", "depth": 0.5, "smoothing": 0.2},
                     {"feature": "onset", "action": "kick"},
                     {"feature": "onset", "action": "envelope", "argument": "hit"}]
    other = AudioReactor(controller_registry(), hub.actions)
    assert other.load_json(saved) == [] and other.to_json() == saved
    problems = other.load_json([saved[0], {"feature": "bass", "address": ZOOM}, {"feature": "low", "address": "mode"},
                                {"feature": "onset", "action": "kik"}, {"feature": "low", "action": "kick"},
                                {"feature": "mid", "address": ZOOM, "gain": 2}, saved[2]])
    assert problems == [
        "audio mapping 2: audio feature must be one of low, mid, high, loudness, onset, got 'bass'",
        "audio mapping 3: mode is a choice: only numbers can be modulated",
        "audio mapping 4: unknown action 'kik'; did you mean kick?",
        "audio mapping 5: a trigger has feature onset, action and argument",
        "audio mapping 6: unknown field gain; a mapping has feature, address, depth and smoothing",
    ]
    assert other.to_json() == [saved[0], saved[2]]


def test_a_missing_input_device_is_one_line(hub):
    names = input_devices()
    if names:
        pytest.skip(f"this machine has audio inputs: {', '.join(names)}")
    with pytest.raises(UserError) as default:
        hub.audio.open_device()
    with pytest.raises(UserError) as named:
        hub.audio.open_device("USB Audio CODEC")
    for error in (default.value, named.value):
        assert "\n" not in str(error)
        assert str(error) == "no audio input: PortAudio found no input device; connect a microphone or line in, " \
                             "or play a sound file"
    assert hub.audio.input is None and hub.audio.readouts() == {}


def test_a_sound_file_plays_in_real_time(hub, beat_wav):
    """With no output device the file plays by the host's clock, analysed as it goes."""
    path, beats = beat_wav
    line = hub.audio.open_file(path)
    assert line.startswith("playing beat.wav")
    onsets = []
    for i in range(round(2.5 * FPS)):
        hub.tick(10.0 + i / FPS)                          # the host's clock need not start at 0
        if hub.audio.readouts()["audio.onset"]:
            onsets.append(i)
    truth = [f for f in beat_frames(beats) if f < 2.5 * FPS]
    assert len(onsets) == len(truth) and all(abs(a - b) <= 1 for a, b in zip(onsets, truth)), (onsets, truth)
    with pytest.raises(UserError, match="sound file .*nothing.wav does not exist"):
        hub.audio.open_file(path.parent / "nothing.wav")
    hub.audio.close_input()
    assert hub.audio.readouts() == {}


def test_a_file_that_is_not_sound_is_one_line(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not a sound")
    with pytest.raises(UserError) as error:
        read_sound(bad)
    assert str(error.value).startswith("cannot read sound from notes.wav: ") and "\n" not in str(error.value)


def decode(path: Path) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Every video frame (RGB) and the audio (mono, as decoded) of ``path``, and the audio's rate."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].rate
        audio = [f.to_ndarray()[0] for f in container.decode(audio=0)]
    return frames, np.concatenate(audio) if audio else np.zeros(0), rate


def test_record_with_audio_makes_a_music_video(tmp_path, beat_wav, model_arg):
    path, beats = beat_wav
    common = ["record", *model_arg, "--source", "noise", "--size", "64", "--quiet", "--set", "dream=1",
              "--audio", str(path)]
    kicked, plain = tmp_path / "kicked.mp4", tmp_path / "plain.mp4"
    result = run_cli(*common, "--audio-map", "onset:kick", "--audio-map", "onset:feedback.zoom:0.3", "--out",
                     str(kicked))
    assert result.returncode == 0, result.stderr
    assert run_cli(*common, "--out", str(plain)).returncode == 0
    assert not list(tmp_path.glob("*.part"))
    frames, audio, rate = decode(kicked)
    assert len(frames) == 3 * FPS                              # --steps from the sound's length
    assert rate == RATE and abs(len(audio) / rate - len(frames) / FPS) <= 1 / FPS
    loud = np.flatnonzero(np.abs(audio) > 0.3)
    assert abs(loud[0] / rate - FIRST_BEAT_S) < 1 / FPS         # the sound is in step with the frames
    plain_frames, _, _ = decode(plain)
    first = beat_frames(beats)[0]
    same = [np.array_equal(a, b) for a, b in zip(frames, plain_frames)]
    # the renders agree until the first beat's frame: the mappings acted from there, before its step
    assert all(same[:first]) and not any(same[first:first + 10]), same[:first + 10]


def test_record_refuses_audio_it_cannot_use(tmp_path, beat_wav, model_arg):
    path, _ = beat_wav
    for extra, message in (
            (["--audio", str(path), "--out", str(tmp_path / "a.gif")],
             "--out a.gif: a GIF holds no sound; record --audio to .mp4, .mov or .mkv"),
            (["--audio-map", "onset:kick", "--out", str(tmp_path / "a.mp4")],
             "--audio-map maps the sound of --audio FILE: give the file too"),
            (["--audio", str(path), "--audio-map", "low:kick", "--out", str(tmp_path / "a.mp4")],
             "--audio-map low:kick: an action fires on onsets: write onset:kick"),
            (["--audio", str(tmp_path / "none.wav"), "--out", str(tmp_path / "a.mp4")],
             f"sound file {tmp_path / 'none.wav'} does not exist")):
        result = run_cli("record", *model_arg, "--size", "64", "--quiet", *extra)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [f"hypnagogia: error: {message}"]
    assert list(tmp_path.iterdir()) == []


def test_a_recording_with_sound_cut_off_mid_file_still_plays_both(tmp_path):
    """What a crash leaves: the file as far as it got holds whole frames and the sound beside them."""
    path = tmp_path / "cut.mp4"
    t = np.arange(4 * RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    recorder = VideoRecorder(path, 64, 48, fps=FPS, soundtrack=Soundtrack(np.stack([tone, tone]), RATE))
    for i in range(60):
        recorder.write(np.full((48, 64, 3), i * 4, np.uint8))
    deadline = time.monotonic() + 30
    while recorder.frames_written < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    claimed = recorder.frames_written
    copy = tmp_path / "as-far-as-it-got.mp4"
    shutil.copy(path, copy)
    recorder.close()
    frames, audio, rate = decode(copy)
    assert len(frames) >= claimed >= 50
    assert abs(len(audio) / rate - len(frames) / FPS) <= 3 / FPS
    whole, audio, rate = decode(path)
    assert len(whole) == 60 and abs(len(audio) / rate - 2.0) <= 1 / FPS
