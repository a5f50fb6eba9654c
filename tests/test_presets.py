"""Presets and morphs: a save-and-recall round trip through the real engine (headless GL), the morph's
midpoint in seconds and in beats, bad and unknown fields, the bank's files, ``hypnagogia presets`` and
``--preset`` on ``record``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from app.action_table import ActionTable
from app.commands.record import RecordHost
from app.controllers.hub import Controllers
from app.controllers.morph import Morph
from app.controllers.presets import NOT_SAVED, Preset, PresetBank, PresetError
from app.controllers.settings import Settings
from app.controllers.tempo import Tempo
from app.gl.mixer import declare_rule_params
from app.loop.session import Session, full_registry
from app.resources import MODEL_DIR, PRESET_DIR
from conftest import ROOT, run_cli, xvfb


@pytest.fixture(scope="module")
def session(gl):
    args = argparse.Namespace(device="cpu", assignments=[], model="ae-tiny-smooth", size=64, source="sample", seed=0,
                              precision="fp32")
    session = Session.from_args(gl, args, realtime=False)
    yield session
    session.close()


@pytest.fixture
def hub(session, tmp_path):
    """The controllers of ``record`` on the session, with a bank of their own; the lines they notify."""
    session.switch_model("ae-tiny-smooth")
    session.switch_source("sample")
    session.registry.reset()
    lines: list[str] = []
    controllers = Controllers(session.registry, ActionTable(), RecordHost(session, lines.append),
                              Settings(tmp_path / "settings.json"))
    controllers.presets = PresetBank(tmp_path / "user", tmp_path / "shipped")
    controllers.lines = lines
    yield controllers
    controllers.modulators.load_json([])                  # the registry's modulation outlives these controllers
    controllers.audio.load_json([])
    controllers.tick(0.0)
    controllers.close()


def look(registry) -> dict:
    return {a: v for a, v in registry.snapshot().items() if a not in NOT_SAVED}


def scramble(registry, seed: int) -> None:
    """Every parameter but the performance's own to a random valid value (the mode first: it writes others)."""
    rng = random.Random(seed)
    params = sorted(registry.params(), key=lambda p: p.name != "mode")
    for p in params:
        if p.name in NOT_SAVED:
            continue
        for address in ([f"{p.name}.{k}" for k in range(1, 9)] if p.per_layer else [p.name]):
            if p.kind == "bool":
                value = rng.random() < 0.5
            elif p.kind == "choice":
                value = rng.choice(p.choices)
            elif p.kind == "int":
                value = rng.randint(int(p.min), int(p.max))
            else:
                value = rng.uniform(p.min, p.max)
            registry.set(address, value)


def write(path, data) -> str:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


# ---- the round trip --------------------------------------------------------------------------------------

def test_save_and_recall_round_trip_is_exact(hub, session):
    registry = session.registry
    scramble(registry, seed=1)
    registry.set("rule", "ff_blur")
    saved = look(registry)
    preset = hub.save_preset("round trip", description="every value scrambled")
    assert preset.path.exists() and preset.model == "ae-tiny-smooth" and preset.source == "sample"
    assert json.loads(preset.path.read_text())["values"]["dream"] == saved["dream"]

    session.switch_model("pvm-small")
    session.switch_source("shapes")
    scramble(registry, seed=2)
    registry.set("rule", "general")
    assert look(registry) != saved
    hub.recall("round trip")                          # morph.time is 0: at once
    assert look(registry) == saved
    assert (hub.host.model_name(), hub.host.source_spec(), registry["rule"]) == ("ae-tiny-smooth", "sample", "ff_blur")
    assert hub.lines == []


def test_recall_by_number_by_action_and_next(hub, session):
    registry = session.registry
    for name, dream in (("b second", 0.2), ("a first", 0.1), ("c third", 0.3)):
        registry.set("dream", dream)
        hub.save_preset(name, with_source=False)
    assert [e.name for e in hub.presets.entries()] == ["a first", "b second", "c third"]
    hub.actions.request("preset", "2")
    hub.tick(0.0)
    assert registry["dream"] == 0.2
    hub.actions.request("preset.next")
    hub.tick(0.1)
    assert registry["dream"] == 0.3
    hub.actions.request("preset.next")                 # round to the first
    hub.tick(0.2)
    assert registry["dream"] == 0.1
    hub.actions.request("preset", "A-FIRST")           # loosely, as an OSC address spells it
    hub.actions.request("preset", "9")
    hub.tick(0.3)
    assert hub.lines == ["action preset: no preset number 9; presets: 1 a first, 2 b second, 3 c third"]


# ---- the morph ---------------------------------------------------------------------------------------------

def registry_and_morph(unit="seconds", time=2.0, bpm=120.0):
    registry = full_registry()
    tempo = Tempo(registry)
    registry.set("morph.time", time)
    registry.set("morph.unit", unit)
    registry.set("tempo.bpm", bpm)
    return registry, Morph(registry, tempo)


TARGET = {"mode": "blind spot", "dream": 1.0, "steps_per_frame": 9, "occluder.x": 0.9, "occluder.mode": "blind",
          "blink": True, "lesion.down.2": True}


def test_morph_midpoint_interpolates_numbers_and_switches_choices_and_bools():
    registry, morph = registry_and_morph()
    switched = []
    morph.start(TARGET, switch=lambda: switched.append(registry["dream"]))
    morph.tick(10.0)                                      # the first tick is the start
    assert (registry["dream"], registry["steps_per_frame"]) == (0.0, 1)
    morph.tick(10.9)
    assert registry["dream"] == pytest.approx(0.45) and registry["steps_per_frame"] == 5   # 1 + 8 · 0.45
    assert (registry["occluder.mode"], registry["blink"], registry["mode"], registry["lesion.down.2"]) == \
        ("off", False, "normal", False) and not switched
    morph.tick(11.0)
    assert registry["dream"] == pytest.approx(0.5) and registry["occluder.x"] == pytest.approx(0.7)
    assert registry["steps_per_frame"] == 5 and isinstance(registry["steps_per_frame"], int)
    assert (registry["occluder.mode"], registry["blink"], registry["mode"], registry["lesion.down.2"]) == \
        ("blind", True, "blind spot", True) and len(switched) == 1
    morph.tick(11.5)
    assert registry["dream"] == pytest.approx(0.75) and morph.active
    morph.tick(12.0)
    assert {a: registry[a] for a in TARGET} == TARGET and not morph.active and len(switched) == 1


def test_morph_in_beats_follows_the_tempo():
    registry, morph = registry_and_morph(unit="beats", time=4.0, bpm=120.0)     # 4 beats: 2 seconds
    morph.start({"dream": 1.0, "occluder.mode": "inverse"})
    morph.tick(0.0)
    morph.tick(1.0)
    assert registry["dream"] == pytest.approx(0.5) and registry["occluder.mode"] == "inverse"
    registry.set("tempo.bpm", 60.0)                       # the other two beats take twice as long
    morph.tick(1.0)
    morph.tick(2.0)
    assert registry["dream"] == pytest.approx(0.75)
    morph.tick(3.0)
    assert registry["dream"] == 1.0 and not morph.active


def test_a_hand_on_a_control_takes_it_out_of_the_morph():
    registry, morph = registry_and_morph()
    morph.start({"dream": 1.0, "occluder.x": 0.9, "lesion.down.2": True, "lesion.up.3": True})
    morph.tick(0.0)
    morph.tick(0.5)
    registry.set("occluder.x", 0.1)                       # a knob moved by hand
    registry.set("lesion.down", False)                    # every layer at once
    morph.tick(1.0)
    morph.tick(2.0)
    assert registry["occluder.x"] == 0.1 and registry["dream"] == 1.0
    assert (registry["lesion.down.2"], registry["lesion.up.3"]) == (False, True)


def test_a_recall_during_a_morph_starts_from_where_it_is():
    registry, morph = registry_and_morph()
    morph.start({"dream": 1.0})
    morph.tick(0.0)
    morph.tick(1.0)
    assert registry["dream"] == pytest.approx(0.5)
    morph.start({"dream": 0.0})
    morph.tick(1.0)
    assert registry["dream"] == pytest.approx(0.5)
    morph.tick(2.0)
    assert registry["dream"] == pytest.approx(0.25)


def test_morph_time_zero_recalls_at_once():
    registry, morph = registry_and_morph(time=0.0)
    morph.start({"mode": "noisy signal", "dream": 0.3, "input_noise": 0.5})
    assert (registry["dream"], registry["input_noise"], registry["mode"]) == (0.3, 0.5, "noisy signal")
    assert not morph.active


def test_a_recall_morphs_the_model_at_the_midpoint(hub, session):
    registry = session.registry
    registry.set("dream", 0.8)
    hub.save_preset("smooth look", with_source=False)
    session.switch_model("pvm-small")
    registry.set("dream", 0.0)
    registry.set("morph.time", 2.0)
    hub.actions.request("preset", "smooth look")
    hub.tick(0.0)
    hub.tick(0.9)
    assert hub.host.model_name() == "pvm-small" and registry["dream"] == pytest.approx(0.36)
    hub.tick(1.0)
    assert hub.host.model_name() == "ae-tiny-smooth" and registry["dream"] == pytest.approx(0.4)
    assert hub.host.source_spec() == "sample"             # the preset left the source out: it stays
    hub.tick(2.0)
    assert registry["dream"] == 0.8


def test_modulators_are_saved_and_a_modulated_value_at_its_base(hub, session):
    registry = session.registry
    registry.set("dream", 0.5)
    hub.modulators.add_lfo("dream", depth=0.2, hz=1.0)
    hub.tick(0.25)                                        # the sine at its top
    assert registry["dream"] == pytest.approx(0.7)
    preset = hub.save_preset("breathing", with_source=False)
    assert preset.values["dream"] == 0.5
    assert json.loads(preset.path.read_text())["modulators"] == [
        {"type": "lfo", "address": "dream", "shape": "sine", "depth": 0.2, "offset": 0.0, "phase": 0.0, "hz": 1.0}]
    hub.modulators.load_json([])
    registry.set("dream", 0.0)
    hub.tick(0.5)
    hub.recall("breathing")
    hub.tick(1.25)
    assert len(hub.modulators.modulators) == 1 and registry["dream"] == pytest.approx(0.7)


def test_a_modulator_on_a_control_does_not_stop_its_morph(hub, session):
    registry = session.registry
    registry.set("dream", 0.8)
    hub.save_preset("still", with_source=False)           # no modulators
    registry.set("dream", 0.0)
    hub.modulators.add_lfo("dream", depth=0.05, hz=1.0)
    registry.set("morph.time", 2.0)
    hub.recall("still")
    hub.tick(0.0)
    hub.tick(0.25)                                        # an eighth of the way, the sine at its top
    assert hub._bases()["dream"] == pytest.approx(0.1)    # the morph moves the base, the LFO swings round it
    assert registry["dream"] == pytest.approx(0.15)
    hub.tick(1.0)                                         # the midpoint: the preset's (no) modulators
    hub.tick(2.0)
    assert registry["dream"] == pytest.approx(0.8) and hub.modulators.modulators == []


# ---- bad and unknown fields ------------------------------------------------------------------------------

BAD = [
    ("not JSON", "{\"format\": 1, ", "not JSON"),
    ("a list", [1, 2], "not a preset"),
    ("no format", {"values": {}}, "field 'format' is missing"),
    ("a newer format", {"format": 2, "values": {}}, "field 'format': 2"),
    ("values a list", {"format": 1, "values": [1]}, "field 'values'"),
    ("a value of the wrong type", {"format": 1, "values": {"dream": [1]}}, "field 'values.dream'"),
    ("a model of the wrong type", {"format": 1, "model": 3}, "field 'model'"),
    ("modulators not a list", {"format": 1, "modulators": {"x": 1}}, "field 'modulators'"),
    ("a value out of range", {"format": 1, "values": {"dream": 5}}, "field 'values.dream': dream expects a number"),
    ("a choice not there", {"format": 1, "values": {"occluder.mode": "sideways"}}, "field 'values.occluder.mode'"),
    ("a rule not there", {"format": 1, "rule": "no_such_rule"}, "field 'rule'"),
]


@pytest.mark.parametrize("what, data, field", BAD, ids=[b[0] for b in BAD])
def test_a_bad_preset_is_one_line_naming_file_and_field(hub, session, tmp_path, what, data, field):
    path = write(tmp_path / "bad.json", data)
    before = look(session.registry)
    hub.actions.request("preset", path)
    hub.tick(0.0)
    assert len(hub.lines) == 1 and "\n" not in hub.lines[0]
    assert path in hub.lines[0] and field in hub.lines[0], hub.lines[0]
    assert look(session.registry) == before               # nothing of it was applied


def test_bad_preset_files_on_the_command_line_are_one_line_each(tmp_path):
    for what, data, field in BAD[:4] + BAD[8:9]:
        path = write(tmp_path / f"{what}.json", data)
        result = run_cli("record", "--preset", path, "--steps", "1", "--size", "64", "--out", str(tmp_path / "x.mp4"))
        assert result.returncode == 2, (what, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert path in result.stderr and field in result.stderr, result.stderr
    missing = run_cli("record", "--preset", "no such look", "--out", str(tmp_path / "x.mp4"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no preset 'no such look'; presets: 1 " in missing.stderr


def test_unknown_fields_load_the_rest_and_are_named(hub, session, tmp_path):
    path = write(tmp_path / "newer.json", {"format": 1, "colour": "blue", "model": None,
                                           "values": {"dream": 0.7, "no_such.knob": 1, "occluder.x": 0.2}})
    hub.recall(path)
    assert (session.registry["dream"], session.registry["occluder.x"]) == (0.7, 0.2)
    assert hub.lines == ["preset newer: loaded all but colour, values.no_such.knob (unknown to this version)"]


# ---- the bank --------------------------------------------------------------------------------------------

def test_bank_names_are_exclusive_shipped_presets_stay(tmp_path):
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    shipped.mkdir()
    write(shipped / "calm.json", {"format": 1, "description": "shipped calm", "values": {"dream": 0.5}})
    bank = PresetBank(user, shipped)
    pixels = np.zeros((96, 96, 3), np.uint8)
    pixels[:, :48] = 255
    bank.save(Preset("mine", {"dream": 0.25}), thumbnail=pixels)
    assert (user / "mine.png").exists() and not list(user.glob(".*"))     # no temporary file left
    with pytest.raises(PresetError, match="a preset named 'mine' exists"):
        bank.save(Preset("Mine", {"dream": 0.3}))
    with pytest.raises(PresetError, match="a shipped preset named 'calm' exists; overwrite it"):
        bank.save(Preset("calm", {"dream": 0.3}))
    with pytest.raises(PresetError, match="digits alone"):
        bank.save(Preset("12", {}))
    with pytest.raises(PresetError, match="no leading dot"):
        bank.save(Preset("../escape", {}))
    bank.save(Preset("calm", {"dream": 0.9}, description="my calm"), overwrite=True)
    assert bank.load("calm").description == "my calm" and not bank.find("calm").shipped      # the user's wins
    assert [e.name for e in bank.entries()] == ["calm", "mine"] and bank.find("2").name == "mine"
    assert bank.delete("calm") == "deleted preset calm; the shipped one of that name is back"
    assert bank.load("calm").description == "shipped calm"
    with pytest.raises(PresetError, match="^calm ships with the app and is never deleted"):
        bank.delete("calm")
    path = bank.rename("mine", "yours")
    assert path == user / "yours.json" and (user / "yours.png").exists() and not (user / "mine.json").exists()
    assert bank.load("yours").values == {"dream": 0.25}
    with pytest.raises(PresetError, match="ships with the app and cannot be renamed"):
        bank.rename("calm", "other")
    assert bank.delete("yours") == "deleted preset yours" and not (user / "yours.png").exists()


def test_the_shipped_presets_load_and_apply():
    registry = full_registry()
    declare_rule_params(registry)
    entries = [e for e in PresetBank(PRESET_DIR / "no-user", PRESET_DIR).entries()]
    assert 4 <= len(entries) <= 10
    for entry in entries:
        preset = PresetBank(PRESET_DIR / "no-user", PRESET_DIR).load(entry)
        values, unknown = preset.checked(registry)
        assert unknown == [] and preset.description and entry.thumbnail.exists()
        assert (MODEL_DIR / f"{preset.model}.safetensors").is_file()      # a shipped model


# ---- the commands ----------------------------------------------------------------------------------------

def test_presets_lists_shipped_and_user(tmp_path):
    home = tmp_path / "home"
    (home / "presets").mkdir(parents=True)
    shipped = sorted(p.stem for p in PRESET_DIR.glob("*.json"))
    write(home / "presets" / "zz mine.json", {"format": 1, "description": "my own look", "model": "ae-tiny-smooth",
                                              "values": {"dream": 1}})
    write(home / "presets" / f"{shipped[0]}.json", {"format": 1, "description": "my version", "values": {}})
    write(home / "presets" / "broken.json", "{")
    result = run_cli("presets", env={"HYPNAGOGIA_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    rows = {line.split("  ")[1].strip(): line for line in result.stdout.splitlines()[1:-1]}
    assert set(rows) == {*shipped, "zz mine", "broken"}
    assert " user " in rows["zz mine"] and "my own look" in rows["zz mine"]
    assert " user " in rows[shipped[0]] and "my version" in rows[shipped[0]]
    assert all(" shipped " in rows[name] for name in shipped[1:])
    assert "! preset " in rows["broken"] and "not JSON" in rows["broken"]
    listed = json.loads(run_cli("presets", "--json", env={"HYPNAGOGIA_HOME": str(home)}).stdout)
    assert [r["name"] for r in listed] == sorted([*shipped, "zz mine", "broken"])
    assert {r["where"] for r in listed if r["name"] in shipped[1:]} == {"shipped"}


def test_preset_fills_in_what_the_command_line_leaves_out(tmp_path):
    from app.commands.main import build_parser

    path = write(tmp_path / "look.json", {"format": 1, "model": "pvm-small", "source": "noise", "rule": "ff_blur",
                                          "values": {"dream": 0.5, "mode": "blinks"}})
    parse = lambda *extra: build_parser().parse_args(["record", "--out", "x.mp4", *extra])   # noqa: E731
    plain = parse()
    assert (plain.source, plain.model, plain.assignments, plain.start_preset) == ("sample", None, [], None)
    given = parse("--preset", path)
    assert (given.source, given.model) == ("noise", "pvm-small")
    assert given.assignments == ["mode=blinks", "rule=ff_blur", "dream=0.5"]
    explicit = parse("--preset", path, "--source", "shapes", "--model", "ae-tiny-smooth", "--set", "dream=1")
    assert (explicit.source, explicit.model) == ("shapes", "ae-tiny-smooth")
    assert explicit.assignments[-1] == "dream=1" and explicit.start_preset.name == "look"


def decode(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.array([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_record_starts_from_the_preset(tmp_path):
    home = tmp_path / "home"
    (home / "presets").mkdir(parents=True)
    write(home / "presets" / "deep zoom.json", {"format": 1, "model": "ae-tiny-smooth", "source": None,
                                                "values": {"dream": 1.0, "feedback.zoom": 1.2}})
    env = {"HYPNAGOGIA_HOME": str(home)}
    common = ["record", "--source", "sample", "--steps", "5", "--size", "64", "--quiet"]
    runs = {}
    for name, extra in (("plain", ["--model", "ae-tiny-smooth"]), ("preset", ["--preset", "deep zoom"]),
                        ("undone", ["--preset", "deep zoom", "--set", "dream=0", "--set", "feedback.zoom=1"])):
        out = tmp_path / f"{name}.mp4"
        result = run_cli(*common, "--out", str(out), *extra, env=env)
        assert result.returncode == 0, result.stderr
        runs[name] = decode(out)
    assert runs["plain"].shape == runs["preset"].shape == (5, 64, 64, 3)
    assert np.abs(runs["preset"][-1].astype(int) - runs["plain"][-1]).mean() > 2     # the preset took effect
    assert np.array_equal(runs["undone"], runs["plain"])                              # --set given here wins


# ---- the window -------------------------------------------------------------------------------------------

@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                    reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")
def test_the_presets_tab_recalls_by_click_and_key_and_saves(tmp_path):
    """Under Xvfb: a click on a thumbnail and a number key each recall a shipped preset and change the
    view, the click also the model (from pvm-small to the preset's); Save writes the look with its model
    and thumbnail into the user's folder."""
    from PIL import ImageGrab

    home, probe = tmp_path / "home", tmp_path / "probe.json"
    with xvfb("1280x1024x24") as display:
        env = {**os.environ, "DISPLAY": display, "HYPNAGOGIA_HOME": str(home)}
        app = subprocess.Popen([sys.executable, "-m", "app", "--model", "pvm-small", "--source", "sample",
                                "--set", "freeze=1", "--window-size", "1200x1000", "--ui-probe", str(probe)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def state(condition, timeout=90.0):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                    data = json.loads(probe.read_text())
                    if condition(data):
                        return data
                time.sleep(0.2)
            raise AssertionError(f"the window did not get there; last probe: {probe.read_text()[:400]}")

        def click(widget):
            x0, y0, x1, y1 = state(lambda d: widget in d["widgets"])["widgets"][widget]
            subprocess.run(["xdotool", "mousemove", str(int((x0 + x1) / 2)), str(int((y0 + y1) / 2)), "sleep", "0.4",
                            "click", "1"], env=env, check=True)

        def view(name):
            data = state(lambda d: d["cells"])
            x, y, w, h = (int(v) for v in next(c for c in data["cells"] if c[0] == "prediction")[1:])
            shot = ImageGrab.grab(xdisplay=display)
            shot.save(tmp_path / f"{name}.png")
            return np.asarray(shot)[y:y + h, x:x + w, :3].astype(np.float32)

        try:
            state(lambda d: d["step"] >= 20 and "tab:Presets" in d["widgets"])
            held_a = view("held")
            time.sleep(1.0)
            steady = np.abs(view("held again") - held_a).mean()
            click("tab:Presets")
            click("preset:infinite-zoom")
            recalled = state(lambda d: d["params"]["feedback.zoom"] == 1.03 and not d["params"]["freeze"], 30)
            state(lambda d: d["step"] >= recalled["step"] + 40)
            zoomed = view("clicked")
            assert np.abs(zoomed - held_a).mean() > max(5 * steady, 2.0)
            subprocess.run(["xdotool", "search", "--name", "Hypnagogia", "windowfocus", "--sync", "key", "2"],
                           env=env, check=True)
            keyed = state(lambda d: d["params"]["occluder.mode"] == "blind" and d["params"]["dream"] == 0.0, 30)
            state(lambda d: d["step"] >= keyed["step"] + 40)
            assert np.abs(view("keyed") - zoomed).mean() > max(5 * steady, 2.0)
            x0, y0, x1, y1 = state(lambda d: "preset:name" in d["widgets"])["widgets"]["preset:name"]
            subprocess.run(["xdotool", "mousemove", str(int((x0 + x1) / 2)), str(int(y0) - 40), "click", "--repeat", "6",
                            "--delay", "60", "5"], env=env, check=True)      # the panel scrolls to its end
            time.sleep(0.8)
            click("preset:name")
            subprocess.run(["xdotool", "sleep", "0.3", "type", "--delay", "40", "my spot"], env=env, check=True)
            state(lambda d: "preset:save" in d["widgets"])
            time.sleep(0.5)
            click("preset:save")
            number = sorted([p.stem for p in PRESET_DIR.glob("*.json")] + ["my spot"]).index("my spot") + 1
            state(lambda d: any(n.startswith(f"saved preset {number} my spot to ") for n in d["notices"]), 30)
        finally:
            subprocess.run(["xdotool", "search", "--name", "^Hypnagogia$", "windowfocus", "--sync", "key", "Escape"],
                           env=env)
            out, _ = app.communicate(timeout=30)
    assert app.returncode == 0, out
    saved = json.loads((home / "presets" / "my spot.json").read_text())
    assert saved["values"]["occluder.mode"] == "blind" and saved["source"] == "sample"
    assert saved["model"] == "ae-tiny-smooth"
    assert (home / "presets" / "my spot.png").stat().st_size > 1000
