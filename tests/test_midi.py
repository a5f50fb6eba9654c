"""MIDI: learn, mappings and values through real mido messages; settings; clock; feedback out and
input over mido's network ports (real TCP on loopback); a virtual rtmidi port where ALSA's sequencer
exists; the panel's MIDI section drawn by a headless ImGui."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time

import mido
import mido.sockets
import pytest

from app.action_table import ActionTable
from app.controllers.hub import Controllers
from app.controllers.midi_mapping import action_target
from app.controllers.settings import Settings
from conftest import LinesHost, controller_registry

WAIT_S = 10.0


def make_hub(settings_file, midi_in=()) -> Controllers:
    registry = controller_registry()
    actions = ActionTable()
    actions.fired = []
    actions.define("kick", "noise on every layer", lambda arg: actions.fired.append(("kick", arg)))
    actions.define("show", "show a view", lambda arg: actions.fired.append(("show", arg)), takes="VIEW")
    hub = Controllers(registry, actions, LinesHost(), Settings(settings_file))
    hub.open_from_args(argparse.Namespace(osc_in=None, osc_out=None, midi_in=list(midi_in)), midi=True)
    return hub


@pytest.fixture
def hub(tmp_path):
    hub = make_hub(tmp_path / "settings.json")
    yield hub
    hub.close()


def cc(number: int, value: int, channel: int = 1) -> mido.Message:
    return mido.Message("control_change", channel=channel - 1, control=number, value=value)


def note(number: int, velocity: int = 100, channel: int = 1) -> mido.Message:
    return mido.Message("note_on", channel=channel - 1, note=number, velocity=velocity)


def release(number: int, channel: int = 1) -> mido.Message:
    return mido.Message("note_off", channel=channel - 1, note=number)


def learned(hub, target: str, message: mido.Message):
    hub.midi.learn(target)
    assert hub.midi.learning == target
    hub.midi.receive(message, 0.0)
    assert hub.midi.learning is None
    return hub.midi.mappings_of(target)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accept_waiting(server) -> None:
    """Take the connections waiting at a PortServer (mido 1.3.3's ``PortServer.iter_pending`` blocks
    for ever: its ``_receive`` drops ``block=False``; its accepted ports do read without blocking)."""
    while (port := server.accept(block=False)) is not None:
        server.ports.append(port)


def server_messages(server) -> list[mido.Message]:
    accept_waiting(server)
    return [message for port in server.ports for message in port.iter_pending()]


def tick_until(hub, done, what: str, now: float = 0.0):
    """Tick the controllers (as the loop does) until ``done()``; fails saying ``what`` never happened."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        hub.tick(now)
        if done():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} within {WAIT_S:g} s; lines: {hub.host.lines}")


# --- learn and mappings --------------------------------------------------------------------------

def test_learn_maps_the_next_cc_across_the_parameters_range(hub):
    registry = hub.registry
    mapping = learned(hub, "feedback.zoom", cc(7, 20))
    assert mapping.describe() == "CC 7 ch 1 → feedback.zoom"
    assert registry["feedback.zoom"] == 1.0                  # learning moves nothing
    assert hub.host.lines[-1] == "MIDI learned: CC 7 ch 1 → feedback.zoom"
    hub.midi.receive(cc(7, 0), 0.0)
    assert registry["feedback.zoom"] == pytest.approx(0.8)
    hub.midi.receive(cc(7, 127), 0.0)
    assert registry["feedback.zoom"] == pytest.approx(1.25)
    hub.midi.receive(cc(7, 64), 0.0)
    assert registry["feedback.zoom"] == pytest.approx(0.8 + 0.45 * 64 / 127)
    hub.midi.receive(cc(7, 0, channel=2), 0.0)               # another channel is another control
    hub.midi.receive(cc(8, 0), 0.0)
    assert registry["feedback.zoom"] == pytest.approx(0.8 + 0.45 * 64 / 127)


def test_a_new_learn_replaces_the_mappings_of_that_control_and_of_that_target(hub):
    learned(hub, "dream", cc(7, 0))
    learned(hub, "input_noise", cc(7, 0))                    # the knob moves to another parameter
    assert hub.midi.mappings_of("dream") == []
    learned(hub, "input_noise", cc(9, 0))                    # the parameter moves to another knob
    assert [m.describe() for m in hub.midi.mappings] == ["CC 9 ch 1 → input_noise"]
    hub.midi.receive(cc(7, 127), 0.0)
    assert hub.registry["input_noise"] == 0.0
    hub.midi.receive(cc(9, 127), 0.0)
    assert hub.registry["input_noise"] == 1.0


def test_learning_waits_for_a_cc_or_a_note_on_and_can_be_cancelled(hub):
    hub.midi.learn("dream")
    for message in (mido.Message("clock"), release(40), note(40, velocity=0), mido.Message("pitchwheel")):
        hub.midi.receive(message, 0.0)
    assert hub.midi.learning == "dream" and hub.midi.mappings == []
    hub.midi.cancel_learn()
    hub.midi.receive(cc(7, 100), 0.0)
    assert hub.midi.learning is None and hub.midi.mappings == []


def test_a_sub_range_and_invert(hub):
    mapping = learned(hub, "dream", cc(1, 0))
    assert hub.midi.edit(mapping, low=0.2, high=0.6, invert=True) == ""
    hub.midi.receive(cc(1, 0), 0.0)
    assert hub.registry["dream"] == pytest.approx(0.6)
    hub.midi.receive(cc(1, 127), 0.0)
    assert hub.registry["dream"] == pytest.approx(0.2)
    hub.midi.receive(cc(1, 127 // 4), 0.0)
    assert hub.registry["dream"] == pytest.approx(0.6 - 0.4 * (127 // 4) / 127)
    problem = hub.midi.edit(mapping, high=2.0)               # outside the declared range: refused
    assert "dream expects a number from 0 to 1" in problem and mapping.high == 0.6


def test_an_integer_parameter_gets_whole_numbers(hub):
    learned(hub, "steps_per_frame", cc(2, 0))
    seen = set()
    for level in range(128):
        hub.midi.receive(cc(2, level), 0.0)
        seen.add(hub.registry["steps_per_frame"])
    assert seen == set(range(1, 65))


def test_a_cc_turns_a_boolean_on_from_64(hub):
    learned(hub, "blink", cc(3, 0))
    for level, on in ((0, False), (63, False), (64, True), (127, True), (10, False)):
        hub.midi.receive(cc(3, level), 0.0)
        assert hub.registry["blink"] is on, level


def test_a_note_toggles_a_boolean_or_holds_it_while_momentary(hub):
    mapping = learned(hub, "freeze", note(36))
    assert mapping.control.describe() == "note 36 ch 1"
    assert hub.registry["freeze"] is False                   # the learning press toggles nothing
    hub.midi.receive(note(36), 0.0)
    assert hub.registry["freeze"] is True
    hub.midi.receive(release(36), 0.0)
    assert hub.registry["freeze"] is True
    hub.midi.receive(note(36), 0.0)
    assert hub.registry["freeze"] is False
    hub.midi.edit(mapping, momentary=True)
    hub.midi.receive(note(36), 0.0)
    assert hub.registry["freeze"] is True
    hub.midi.receive(note(36, velocity=0), 0.0)              # a note-on at velocity 0 is a release
    assert hub.registry["freeze"] is False


def test_a_note_toggles_a_number_between_the_ends_of_its_range(hub):
    mapping = learned(hub, "dream", note(40))
    hub.midi.edit(mapping, high=0.7)
    hub.midi.receive(note(40), 0.0)
    assert hub.registry["dream"] == pytest.approx(0.7)
    hub.midi.receive(note(40), 0.0)
    assert hub.registry["dream"] == 0.0


def test_notes_and_ccs_fire_actions_with_their_argument(hub):
    learned(hub, action_target("kick"), note(50))
    learned(hub, action_target("show", "grid"), cc(20, 0))
    assert hub.midi.mappings_of("action:show=grid")[0].describe() == "CC 20 ch 1 → action show grid"
    hub.midi.receive(note(50), 0.0)
    hub.midi.receive(release(50), 0.0)
    for level in (10, 100, 127, 90, 0, 70):                  # fires each time it crosses 64 upwards
        hub.midi.receive(cc(20, level), 0.0)
    hub.tick(0.0)
    assert hub.actions.fired == [("kick", None), ("show", "grid"), ("show", "grid")]


def test_choices_step_with_notes_and_follow_a_cc_by_position(hub):
    choices = hub.registry.param("occluder.fill").choices       # gray, noise, prediction
    mapping = learned(hub, "occluder.fill", note(60))
    for expected in (*choices[1:], choices[0]):
        hub.midi.receive(note(60), 0.0)
        assert hub.registry["occluder.fill"] == expected
    hub.midi.edit(mapping, invert=True)
    hub.midi.receive(note(60), 0.0)
    assert hub.registry["occluder.fill"] == choices[-1]
    learned(hub, "occluder.mode", cc(21, 0))
    for level, expected in ((0, "off"), (64, "blind"), (127, "inverse")):
        hub.midi.receive(cc(21, level), 0.0)
        assert hub.registry["occluder.mode"] == expected


def test_per_layer_addresses_map_one_layer(hub):
    learned(hub, "lesion.up.3", note(70))
    hub.midi.receive(note(70), 0.0)
    assert hub.registry.layers("lesion.up") == [False, False, True] + [False] * 5


# --- bad input: one line each --------------------------------------------------------------------

def test_learning_an_unknown_target_is_one_line(hub):
    for target, words in (("dreem", "unknown parameter 'dreem'; did you mean dream"),
                          ("lesion.up.12", "layer must be 1 to 8"),
                          (action_target("explode"), "unknown action 'explode'")):
        before = len(hub.host.lines)
        hub.midi.learn(target)
        assert hub.midi.learning is None
        assert len(hub.host.lines) == before + 1 and words in hub.host.lines[-1], hub.host.lines[-1]


def test_a_missing_port_is_one_line_saying_what_there_is(hub):
    before = len(hub.host.lines)
    hub.midi.open_input("no such controller")
    assert len(hub.host.lines) == before + 1
    line = hub.host.lines[-1]
    if hub.midi.problem:          # no MIDI system here: the line says what to load
        assert line.startswith("MIDI in no such controller: no MIDI system: ")
        assert "(Linux: the ALSA sequencer, snd-seq, must be loaded)" in line
    else:
        assert "no such port; inputs here: " in line
    for _ in range(3):            # the hot-plug look does not say it again every second
        hub.midi._poll()
    assert len(hub.host.lines) == before + 1
    hub.midi.open_output("no such synth")
    assert len(hub.host.lines) == before + 2 and hub.host.lines[-1].startswith("MIDI out no such synth: ")


def test_bad_network_addresses_are_one_line_each(hub):
    for name, words in (("127.0.0.1:99999", "port number out of range"),
                        ("no-such-host.invalid:5004", "unknown host")):
        before = len(hub.host.lines)
        hub.midi.open_input(name)
        assert len(hub.host.lines) == before + 1 and words in hub.host.lines[-1], hub.host.lines[-1]
        assert name not in hub.midi.inputs and not hub.midi.is_chosen(name)


def test_a_network_port_where_nothing_listens_is_one_line_and_retried_quietly(hub):
    address = f"127.0.0.1:{free_port()}"
    hub.midi.open_input(address)
    tick_until(hub, lambda: any("connection refused" in line for line in hub.host.lines), "a refused line")
    count = len(hub.host.lines)
    end = time.monotonic() + 2.5                            # two more attempts, said nothing more
    while time.monotonic() < end:
        hub.tick(0.0)
        time.sleep(0.05)
    assert len(hub.host.lines) == count
    assert hub.host.lines[-1] == f"MIDI in {address}: nothing listens there (connection refused); trying " \
                                 f"again every second"


# --- settings ----------------------------------------------------------------------------------

def test_mappings_and_ports_survive_a_restart(tmp_path):
    path = tmp_path / "settings.json"
    first = make_hub(path)
    zoom = learned(first, "feedback.zoom", cc(7, 0, channel=3))
    first.midi.edit(zoom, low=0.9, high=1.1, invert=True)
    pad = learned(first, "blink", note(36, channel=10))
    first.midi.edit(pad, momentary=True)
    learned(first, action_target("show", "compare"), note(37, channel=10))
    first.midi.choose_input("nanoKONTROL2 20:0", True)            # ALSA's numbers are not kept
    first.midi.choose_output("127.0.0.1:1")
    first.midi.save()
    saved = [m.to_settings() for m in first.midi.mappings]
    first.close()
    stored = json.loads(path.read_text())["midi"]
    assert stored["inputs"] == ["nanoKONTROL2"] and stored["output"] == "127.0.0.1:1"

    again = make_hub(path)
    try:
        assert [m.to_settings() for m in again.midi.mappings] == saved
        assert again.midi.wanted_inputs == ["nanoKONTROL2"] and again.midi.wanted_output == "127.0.0.1:1"
        again.midi.receive(cc(7, 0, channel=3), 0.0)
        assert again.registry["feedback.zoom"] == pytest.approx(1.1)
        again.midi.receive(note(36, channel=10), 0.0)
        assert again.registry["blink"] is True
        again.midi.receive(release(36, channel=10), 0.0)
        assert again.registry["blink"] is False
    finally:
        again.close()


def test_settings_entries_that_no_longer_fit_are_one_line_each_and_kept(tmp_path):
    path = tmp_path / "settings.json"
    good = {"control": "cc", "channel": 1, "number": 7, "target": "dream", "invert": False, "momentary": False}
    unknown = {"control": "cc", "channel": 1, "number": 8, "target": "swirl.amount"}
    wrong = {"control": "cc", "channel": 17, "number": 9, "target": "dream"}
    out_of_range = {"control": "cc", "channel": 1, "number": 10, "target": "input_noise", "max": 3}
    path.write_text(json.dumps({"midi": {"inputs": [], "mappings": [good, unknown, wrong, out_of_range]},
                                "other": {"kept": True}}))
    hub = make_hub(path)
    try:
        lines = [line for line in hub.host.lines if line.startswith("MIDI settings")]
        assert len(lines) == 3
        assert lines[0].startswith("MIDI settings: mapping 2 (CC 8 ch 1 → swirl.amount) does not fit: "
                                   "unknown parameter 'swirl.amount'")
        assert "mapping 3 does not fit: channel must be an integer from 1 to 16, got 17" in lines[1]
        assert "mapping 4 (CC 10 ch 1 → input_noise) does not fit: input_noise expects a number from 0 to 1" \
               in lines[2]
        assert all(line.endswith("it is kept in the settings, unused") for line in lines)
        assert [m.describe() for m in hub.midi.mappings] == ["CC 7 ch 1 → dream"]
        hub.midi.receive(cc(7, 127), 0.0)
        assert hub.registry["dream"] == 1.0
        learned(hub, "input_noise", cc(11, 0))
        stored = json.loads(path.read_text())
        assert stored["other"] == {"kept": True}
        assert unknown in stored["midi"]["mappings"] and wrong in stored["midi"]["mappings"]
        learned(hub, "feedback.rotate", cc(8, 0))                # the same control, learned anew
        assert unknown not in json.loads(path.read_text())["midi"]["mappings"]
    finally:
        hub.close()


def test_a_settings_section_of_the_wrong_shape_is_one_line(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"midi": ["not", "an", "object"]}))
    hub = make_hub(path)
    try:
        assert hub.host.lines == ["settings: midi is not an object; MIDI starts without mappings or ports"]
        assert hub.midi.mappings == []
    finally:
        hub.close()


# --- clock -------------------------------------------------------------------------------------

def test_midi_clock_sets_the_tempo_and_start_puts_the_beat_at_zero(hub):
    bpm = 96.0
    interval = 60.0 / (bpm * 24)
    for i in range(24 * 4):
        hub.midi.receive(mido.Message("clock"), i * interval)
    assert hub.registry["tempo.bpm"] == pytest.approx(bpm, abs=0.5)
    assert hub.tempo.source == "MIDI clock"
    start = 24 * 4 * interval + 0.01
    hub.midi.receive(mido.Message("start"), start)
    assert hub.tempo.beats(start) == pytest.approx(0.0)
    assert hub.tempo.beats(start + 60.0 / bpm) == pytest.approx(1.0, abs=0.01)


# --- over the network: mido's PortServer on loopback ---------------------------------------------

def test_feedback_goes_out_to_a_port_server_without_echoing_a_knob(hub):
    server = mido.sockets.PortServer("127.0.0.1", free_port())
    received: list[mido.Message] = []

    def arrived(count: int):
        def done():
            received.extend(server_messages(server))
            return len(received) >= count
        return done

    try:
        zoom = learned(hub, "feedback.zoom", cc(7, 0))
        learned(hub, "freeze", note(36, channel=10))
        host, port = server._socket.getsockname()
        hub.midi.open_output(f"{host}:{port}")
        tick_until(hub, arrived(2), "the state of both controls on connecting")
        assert sorted(str(m) for m in received[:2]) == sorted(
            [str(cc(7, round(127 * 0.2 / 0.45))), str(mido.Message("note_off", channel=9, note=36, velocity=0))])
        # another controller (the panel, OSC, a morph) moves the parameters: the device follows
        hub.registry.set("feedback.zoom", 1.25)
        hub.registry.set("freeze", True)
        tick_until(hub, arrived(4), "feedback of two changes")
        assert received[2:4] == [cc(7, 127), mido.Message("note_on", channel=9, note=36, velocity=127)]
        hub.midi.edit(zoom, invert=True)                       # the device shows the mapping's view
        tick_until(hub, arrived(5), "the inverted level")
        assert received[4] == cc(7, 0)
        # the knob itself moves the zoom: nothing is sent back to it
        for level in (10, 20, 30):
            hub.midi.receive(cc(7, level), 0.0)
        hub.midi.receive(note(36, channel=10), 0.0)            # a pad's LED does follow its toggle
        tick_until(hub, arrived(6), "the pad's LED")
        time.sleep(0.2)
        hub.tick(0.0)
        received.extend(server_messages(server))
        assert received[5:] == [mido.Message("note_off", channel=9, note=36, velocity=0)]
        assert hub.registry["feedback.zoom"] == pytest.approx(1.25 - 0.45 * 30 / 127)
    finally:
        server.close()


SERVER = """
import sys, mido, mido.sockets
server = mido.sockets.PortServer("127.0.0.1", int(sys.argv[1]))
print("ready", flush=True)
for line in sys.stdin:
    while (port := server.accept(block=False)) is not None:     # who connected
        server.ports.append(port)
    number, value = map(int, line.split())
    server.send(mido.Message("control_change", control=number, value=value))
    print(len(server.ports), flush=True)
"""


class ServerProgram:
    """Another program with a mido PortServer, sending the CCs it is told to."""

    def __init__(self, port: int):
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"

    def send(self, number: int, value: int) -> int:
        """Send a CC to every client; returns how many there were."""
        self.process.stdin.write(f"{number} {value}\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def test_midi_from_another_program_over_tcp_reaches_the_registry_through_tick(tmp_path):
    port = free_port()
    server = ServerProgram(port)
    hub = make_hub(tmp_path / "settings.json", midi_in=[f"127.0.0.1:{port}"])
    try:
        tick_until(hub, lambda: hub.midi.is_open(f"127.0.0.1:{port}"), "a connection")
        assert hub.host.lines == [f"MIDI in 127.0.0.1:{port}: connected"]
        hub.midi.learn("dream")
        deadline = time.monotonic() + WAIT_S
        while server.send(1, 0) < 1 and time.monotonic() < deadline:      # until the server accepted us
            time.sleep(0.01)
        tick_until(hub, lambda: hub.midi.learning is None, "learning from the network")
        assert [m.describe() for m in hub.midi.mappings] == ["CC 1 ch 1 → dream"]
        for value in (127, 32):
            server.send(1, value)
            tick_until(hub, lambda: hub.registry["dream"] == pytest.approx(value / 127), f"dream at {value}")

        server.stop()                                           # the other program goes away …
        tick_until(hub, lambda: "the connection closed" in hub.host.lines[-1], "a line about the loss")
        assert hub.host.lines[-1] == f"MIDI in 127.0.0.1:{port}: the connection closed; trying again every second"
        server = ServerProgram(port)                            # … and comes back
        tick_until(hub, lambda: hub.midi.is_open(f"127.0.0.1:{port}"), "a new connection")
        assert hub.host.lines[-1] == f"MIDI in 127.0.0.1:{port}: connected again"
        deadline = time.monotonic() + WAIT_S
        while server.send(1, 127) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        tick_until(hub, lambda: hub.registry["dream"] == 1.0, "dream from the new connection")
    finally:
        server.stop()
        hub.close()


# --- the computer's own ports --------------------------------------------------------------------

def alsa_sequencer_problem() -> str:
    from app.controllers.midi_ports import SystemPorts
    ports = SystemPorts()
    ports.names()
    ports.close()
    return ports.problem


def test_a_virtual_rtmidi_port_is_learned_and_played(hub):
    problem = alsa_sequencer_problem()
    if problem:
        pytest.skip(f"no virtual rtmidi port can be made here: {problem}")
    device = mido.open_output("hypnagogia test device", virtual=True)
    try:
        hub.midi._poll()
        name = next(n for n in hub.midi.available_inputs() if "hypnagogia test device" in n)
        hub.midi.choose_input("hypnagogia test device", True)
        assert hub.midi.is_open(name)
        hub.midi.learn("dream")
        device.send(cc(5, 0))
        tick_until(hub, lambda: hub.midi.learning is None, "learning from the virtual port")
        device.send(cc(5, 127))
        tick_until(hub, lambda: hub.registry["dream"] == 1.0, "dream from the virtual port")
    finally:
        device.close()
    hub.midi._poll()
    assert hub.host.lines[-1].endswith("went away; it opens again when it comes back")


# --- the panel ---------------------------------------------------------------------------------

class PanelState:
    """What the panel's MIDI section reads of the window's state."""

    def __init__(self, hub):
        self.controllers = hub
        self.widgets: dict[str, list[float]] = {}
        self.panel_fields = {"midi.network": ""}


class Frames:
    """A headless ImGui that draws frames and clicks where a remembered item was."""

    def __init__(self):
        from imgui_bundle import imgui
        self.imgui = imgui
        self.context = imgui.create_context()
        io = imgui.get_io()
        io.display_size = imgui.ImVec2(600, 900)
        io.backend_flags |= imgui.BackendFlags_.renderer_has_textures
        io.set_ini_filename("")

    def draw(self, body, mouse=(-1.0, -1.0), down=False) -> None:
        imgui = self.imgui
        io = imgui.get_io()
        io.delta_time = 1 / 60
        io.add_mouse_pos_event(*mouse)
        io.add_mouse_button_event(0, down)
        imgui.new_frame()
        imgui.set_next_window_pos(imgui.ImVec2(0, 0))
        imgui.set_next_window_size(imgui.ImVec2(600, 900))
        imgui.begin("panel")
        body()
        imgui.end()
        imgui.render()

    def click(self, body, rect) -> None:
        centre = ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)
        self.draw(body, centre)
        self.draw(body, centre, down=True)
        self.draw(body, centre, down=False)

    def close(self) -> None:
        self.imgui.destroy_context(self.context)


def test_the_panel_section_learns_shows_edits_and_removes(hub):
    from app.ui import midi_panel
    imgui = pytest.importorskip("imgui_bundle").imgui
    state, frames = PanelState(hub), Frames()
    server = mido.sockets.PortServer("127.0.0.1", free_port())

    def remember(key):
        lo, hi = imgui.get_item_rect_min(), imgui.get_item_rect_max()
        state.widgets[key] = [lo.x, lo.y, hi.x, hi.y]

    def context_menu():           # the items of a control's right-click menu, always open here
        midi_panel.menu_items(state, "dream")

    def section():
        midi_panel.draw_section(state, remember)

    try:
        frames.draw(context_menu)
        assert "midi:learn:dream" in state.widgets and "midi:forget:dream" not in state.widgets
        frames.click(context_menu, state.widgets["midi:learn:dream"])
        assert midi_panel.is_learning(state, "dream") and not midi_panel.is_learning(state, "blink")
        frames.draw(section)
        assert "midi:cancel" in state.widgets
        hub.midi.receive(cc(7, 0, channel=2), 0.0)
        assert not midi_panel.is_learning(state, "dream")
        state.widgets.clear()
        frames.draw(section)
        for key in ("midi:range:dream", "midi:invert:dream", "midi:remove:dream", "midi:output", "midi:network"):
            assert key in state.widgets, key
        assert "midi:momentary:dream" not in state.widgets       # a CC has no momentary
        frames.click(section, state.widgets["midi:invert:dream"])
        assert hub.midi.mappings_of("dream")[0].invert
        assert json.loads(hub.settings.path.read_text())["midi"]["mappings"][0]["invert"] is True

        address = "%s:%d" % server._socket.getsockname()
        hub.midi.open_input(address)                            # a network input shows as a port
        state.widgets.clear()
        frames.draw(section)
        assert f"midi:port:{address}" in state.widgets
        frames.click(section, state.widgets[f"midi:port:{address}"])
        assert address not in hub.midi.inputs and not hub.midi.is_chosen(address)

        state.widgets.clear()
        frames.draw(context_menu)
        frames.click(context_menu, state.widgets["midi:forget:dream"])
        assert hub.midi.mappings == []
    finally:
        server.close()
        frames.close()
