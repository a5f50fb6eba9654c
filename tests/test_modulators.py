"""Modulators through the real registry, tempo, action table and hub: LFO shapes and rates (in Hz and in
beats of the tempo), the base following the user, envelopes fired by the action, presets' JSON."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time

import pytest

from app.action_table import ActionTable
from app.controllers.hub import Controllers
from app.controllers.modulators import LFO, SHAPES, ModulatorBank
from app.controllers.settings import Settings
from app.controllers.tempo import BPM, Tempo
from app.params import ParamError
from conftest import LinesHost, controller_registry, xvfb
from test_window_play import Window

ROTATE = "feedback.rotate"          # −10 … 10 degrees: a range of 20
ZOOM = "feedback.zoom"              # 0.8 … 1.25




@pytest.fixture
def bank():
    r = controller_registry()
    return ModulatorBank(r, Tempo(r))


@pytest.fixture
def hub(tmp_path):
    controllers = Controllers(controller_registry(), ActionTable(), LinesHost(), Settings(tmp_path / "settings.json"))
    yield controllers
    controllers.close()


@pytest.mark.parametrize("shape, expected", [
    ("sine", {0.0: 0.0, 0.25: 1.0, 0.5: 0.0, 0.75: -1.0}),
    ("triangle", {0.0: 0.0, 0.125: 0.5, 0.25: 1.0, 0.5: 0.0, 0.75: -1.0, 0.875: -0.5}),
    ("saw", {0.0: -1.0, 0.25: -0.5, 0.5: 0.0, 0.75: 0.5}),
    ("square", {0.0: 1.0, 0.25: 1.0, 0.5: -1.0, 0.99: -1.0}),
])
def test_lfo_shapes_move_the_parameter_around_its_base(bank, shape, expected):
    bank.registry.set(ROTATE, 2.0)
    bank.add_lfo(ROTATE, shape=shape, depth=0.25, hz=1.0)         # ±0.25 of the range: ±5 degrees
    for now, wave in expected.items():
        bank.tick(now + 3.0)                                       # a whole number of cycles later: the same
        assert bank.registry[ROTATE] == pytest.approx(2.0 + 5.0 * wave, abs=1e-9), (shape, now)
    assert bank.bases() == {ROTATE: 2.0}


def test_offset_and_phase_and_the_range_clamps(bank):
    bank.registry.set(ROTATE, 8.0)
    bank.add_lfo(ROTATE, shape="sine", depth=0.1, offset=-0.05, phase=0.25, hz=2.0)
    bank.tick(0.0)                                 # the phase starts the sine at its top: 8 − 1 + 2
    assert bank.registry[ROTATE] == pytest.approx(9.0)
    bank.add_lfo(ROTATE, shape="square", depth=0.5, hz=2.0)
    bank.tick(0.0)                                 # 9 + 10 is past the top of the range
    assert bank.registry[ROTATE] == 10.0
    bank.tick(0.3)                                 # the square is low: 8 − 1 + 2·(−0.81) − 10
    assert bank.registry[ROTATE] == pytest.approx(8.0 - 1.0 + 2.0 * math.sin(2 * math.pi * 0.85) - 10.0)


def test_an_integer_parameter_gets_whole_values(bank):
    bank.registry.set("explore.hold", 1000)        # 1 … 2000
    bank.add_lfo("explore.hold", shape="saw", depth=0.1, hz=1.0)
    values = []
    for i in range(10):
        bank.tick(i / 10)
        values.append(bank.registry["explore.hold"])
    assert all(isinstance(v, int) for v in values)
    assert values[0] == round(1000 - 0.1 * 1999) and values[5] == 1000


def test_sample_and_hold_holds_each_cycle_and_is_seeded(bank):
    lfo = bank.add_lfo(ROTATE, shape="sample-and-hold", depth=0.5, hz=4.0, seed=7)
    held = []
    for cycle in range(12):
        a, b = lfo.offset_at(cycle / 4 + 0.01, bank.tempo), lfo.offset_at(cycle / 4 + 0.24, bank.tempo)
        assert a == b and -0.5 <= a <= 0.5
        held.append(a)
    assert len(set(held)) == 12
    again = LFO(ROTATE, shape="sample-and-hold", depth=0.5, hz=4.0, seed=7)
    other = LFO(ROTATE, shape="sample-and-hold", depth=0.5, hz=4.0, seed=8)
    assert [again.offset_at(c / 4 + 0.1, bank.tempo) for c in range(12)] == held      # the same at any time
    assert [other.offset_at(c / 4 + 0.1, bank.tempo) for c in range(12)] != held


def test_a_rate_in_beats_follows_the_tempo(bank):
    bank.registry.set(BPM, 120.0)                   # a beat every 0.5 s
    bank.add_lfo(ROTATE, shape="saw", depth=0.5, beats=1.0)
    quarter = bank.add_lfo(ZOOM, shape="square", depth=0.1, beats=0.25)       # four cycles a beat
    for now, saw in ((0.0, -1.0), (0.125, -0.5), (0.25, 0.0), (0.5, -1.0), (1.375, 0.5)):
        bank.tick(now)
        assert bank.registry[ROTATE] == pytest.approx(10.0 * saw, abs=1e-9), now
    assert [quarter.wave(quarter.cycles(t, bank.tempo)) for t in (0.0, 0.0625, 0.125, 0.1875)] == [1, -1, 1, -1]
    bank.tick(2.0)                                   # beat 4; then the tempo halves
    bank.registry.set(BPM, 60.0)
    bank.tick(2.0)
    assert bank.registry[ROTATE] == pytest.approx(-10.0)            # no jump where the tempo changed
    bank.tick(2.5)                                   # half a beat at 60 BPM: half way up the saw
    assert bank.registry[ROTATE] == pytest.approx(0.0, abs=1e-9)
    assert bank.tempo.source == "field"


def test_the_base_follows_the_user_and_comes_back_when_the_modulator_goes(bank):
    r = bank.registry
    r.set(ROTATE, 1.0)
    lfo = bank.add_lfo(ROTATE, shape="sine", depth=0.1, hz=1.0)
    bank.tick(0.25)
    assert r[ROTATE] == pytest.approx(3.0)
    r.set(ROTATE, -4.0)                              # the user moves the slider
    bank.tick(0.25)
    assert r[ROTATE] == pytest.approx(-2.0) and bank.bases() == {ROTATE: -4.0}
    bank.tick(0.75)
    assert r[ROTATE] == pytest.approx(-6.0) and bank.bases() == {ROTATE: -4.0}
    bank.remove(lfo)
    bank.tick(1.0)
    assert r[ROTATE] == -4.0 and bank.bases() == {}


def test_only_numbers_with_a_range_take_modulators(bank):
    for address, message in (("mode", "mode is a choice: only numbers can be modulated"),
                             ("blink", "blink is on/off: only numbers can be modulated"),
                             ("feedback.zom", "unknown parameter 'feedback.zom'; did you mean feedback.zoom")):
        with pytest.raises(ParamError, match=message):
            bank.add_lfo(address)
    with pytest.raises(ValueError, match="shape must be one of sine, triangle, saw, square, sample-and-hold"):
        bank.add_lfo(ZOOM, shape="wobble")
    with pytest.raises(ValueError, match="depth must be a number from -1 to 1, got 3"):
        bank.add_lfo(ZOOM, depth=3)
    assert bank.modulators == []


def test_an_envelope_fires_on_its_action(hub):
    r, bank = hub.registry, hub.modulators
    r.set(ROTATE, 0.0)
    bank.add_envelope(ROTATE, name="hit", attack=0.1, release=0.4, depth=0.5)     # up to +10
    bank.add_envelope(ZOOM, name="swell", attack=1.0, release=1.0, depth=0.2)
    zoom = r[ZOOM]
    hub.tick(1.0)
    assert r[ROTATE] == 0.0
    hub.actions.request("envelope", "hit")          # as a MIDI pad or /hypnagogia/action/envelope hit would
    for now, level in ((2.0, 0.0), (2.05, 0.5), (2.1, 1.0), (2.3, 0.5), (2.5, 0.0), (3.0, 0.0)):
        hub.tick(now)
        assert r[ROTATE] == pytest.approx(10.0 * level, abs=1e-9), now
    assert r[ZOOM] == zoom                          # the other envelope has another name
    hub.actions.request("envelope", "hit")
    hub.tick(4.0)
    hub.tick(4.3)
    assert r[ROTATE] == pytest.approx(5.0)
    hub.actions.request("envelope")                  # every envelope, at the next tick; "hit" rises again …
    hub.tick(4.35)
    hub.tick(4.4)
    assert r[ROTATE] == pytest.approx(10.0 * (0.375 + 0.625 * 0.05 / 0.1))    # … from where it was (0.375)
    assert r[ZOOM] == pytest.approx(zoom + 0.2 * 0.45 * 0.05)
    hub.actions.request("envelope", "nope")
    hub.tick(5.0)
    assert hub.host.lines == ["action envelope: no envelope named 'nope'; envelopes: hit, swell"]


def test_taps_set_the_tempo_and_the_beat(hub):
    for now in (1.0, 1.4, 1.8, 1.8, 2.2):          # the second tap at 1.8 came in the same frame: one tap
        hub.actions.request("tap")
        hub.tick(now)
    assert hub.registry[BPM] == 150.0 and hub.tempo.source == "tap"
    assert hub.tempo.phase(2.2) == pytest.approx(0.0) and hub.tempo.phase(2.5) == pytest.approx(0.75)
    hub.registry.set(BPM, 100.0)                    # typed in the field, or sent over OSC
    hub.tick(2.6)
    assert hub.tempo.source == "field"


def test_json_round_trip_and_bad_entries(hub):
    bank = hub.modulators
    bank.add_lfo(ROTATE, shape="triangle", depth=0.3, offset=0.1, phase=0.5, beats=0.5)
    bank.add_lfo(ZOOM, shape="sample-and-hold", hz=3.0, seed=11)
    bank.add_envelope("dream", name="hit", attack=0.02, release=1.5, depth=-0.4)
    saved = json.loads(json.dumps(bank.to_json()))
    assert saved[0] == {"type": "lfo", "address": ROTATE, "shape": "triangle", "depth": 0.3, "offset": 0.1,
                        "phase": 0.5, "beats": 0.5}
    other = ModulatorBank(controller_registry(), Tempo(controller_registry()))
    assert other.load_json(saved) == []
    assert other.to_json() == saved
    for now in (0.1, 0.77, 2.4):
        assert [m.offset_at(now, hub.tempo) for m in bank.modulators] == \
            [m.offset_at(now, other.tempo) for m in other.modulators]
    problems = other.load_json([saved[0], {"type": "lfo", "address": "nope"}, {"type": "wave"},
                                {"type": "lfo", "address": ZOOM, "hz": 1, "beats": 2}, "text",
                                {"type": "envelope", "address": ZOOM, "speed": 2}, saved[2]])
    assert problems == [
        "modulator 2: unknown parameter 'nope'; `hypnagogia params` lists them all",
        "modulator 3: type must be lfo or envelope, got 'wave'",
        "modulator 4: give hz or beats, not both",
        "modulator 5: expected an object, got 'text'",
        "modulator 6: unknown field speed; envelope takes address, attack, depth, name, release",
    ]
    assert other.to_json() == [saved[0], saved[2]]
    assert other.load_json({"type": "lfo"}) == ["modulators must be a list, got dict"]


def test_the_same_ticks_give_the_same_values(bank):
    second = ModulatorBank(controller_registry(), Tempo(controller_registry()))
    for b in (bank, second):
        b.add_lfo(ROTATE, shape="sample-and-hold", beats=0.5, seed=3)
        b.add_lfo(ZOOM, shape="sine", hz=0.7)
    seen = [[], []]
    for step in range(90):
        for b, out in zip((bank, second), seen):
            b.tick(step / 30)
            out.append((b.registry[ROTATE], b.registry[ZOOM]))
    assert seen[0] == seen[1] and len(set(seen[0])) > 30


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_stays_in_its_swing(bank, shape):
    lfo = LFO(ROTATE, shape=shape, hz=1.3, depth=1.0)
    values = [lfo.wave(lfo.cycles(t / 97, bank.tempo)) for t in range(300)]
    assert min(values) >= -1.0 and max(values) <= 1.0 and max(values) - min(values) > 1.0


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                    reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")
def test_the_play_tab_taps_the_tempo_and_a_right_click_adds_an_lfo(tmp_path):
    """The window under Xvfb, driven with xdotool: taps on the tempo's button set the BPM; a right
    click on the dream slider, then Add LFO, and the slider swings on its own."""
    with xvfb("1280x800x24") as display:
        window = Window(display, tmp_path, "--source", "shapes")
        try:
            window.wait(lambda d: d["step"] >= 3 and "tab:Play" in d["widgets"])
            window.click("tab:Play")
            x0, y0, x1, y1 = window.wait(lambda d: "tempo:tap" in d["widgets"])["widgets"]["tempo:tap"]
            subprocess.run(["xdotool", "mousemove", str(int((x0 + x1) / 2)), str(int((y0 + y1) / 2)), "sleep", "0.5",
                            *[word for _ in range(4) for word in ("click", "1", "sleep", "0.4")]],
                           env=window.env, check=True)
            time.sleep(1.0)                              # the last tap reaches a frame
            tapped = window.wait(lambda d: d["params"][BPM] != 120.0)
            window.screenshot("play-tab.png")
            window.click("param:dream", button="3")
            window.click("mod:add:dream")
            swings = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (len(swings) < 2 or max(swings) - min(swings) < 0.15):
                swings.append(window.wait(lambda d: True)["params"]["dream"])
                time.sleep(0.2)
            window.screenshot("modulated.png")
        finally:
            window.quit()
    assert 100 < tapped["params"][BPM] < 220            # taps 0.4 s apart: 150 BPM, give or take xdotool and frames
    assert max(swings) - min(swings) >= 0.15, swings    # ±0.2 of the dream's range, a cycle every 4 beats
