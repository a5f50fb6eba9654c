"""OSC in and out over real UDP on the loopback: every message checked as it arrives, one line for a
bad one, writes landing between steps, readouts out every frame, and a live OSC change rendered
again offline with --cue to the same frames."""

import contextlib
import json
import math
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time

import av
import numpy as np
import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_server import ThreadingOSCUDPServer

from app.action_table import ActionTable
from app.commands.main import build_parser
from app.controllers.hub import Controllers
from app.controllers.osc import BURST, Complaints, OscSender, OscServer
from app.controllers.settings import Settings
from app.errors import UserError
from app.params import make_registry
from conftest import ROOT, LinesHost, controller_registry, run_cli



class Client:
    """An OSC sender with a socket of its own, so that it hears the answers to its questions."""

    def __init__(self, port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.target = ("127.0.0.1", port)

    def send(self, address: str, *args) -> None:
        self.sock.sendto(build_msg(address, list(args)).dgram, self.target)

    def raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def answers(self, count: int) -> list[OscMessage]:
        return [OscMessage(self.sock.recv(65536)) for _ in range(count)]

    def barrier(self) -> None:
        """Until the listener has handled everything sent before: it handles one datagram after the
        other, and answers this question last (asked again should a busy machine drop it: UDP)."""
        for _ in range(3):
            self.send("/hypnagogia/get/dream")
            try:
                assert self.answers(1)[0].address == "/hypnagogia/dream"
                return
            except TimeoutError:
                continue
        raise TimeoutError("the listener never answered")

    def close(self) -> None:
        self.sock.close()



@pytest.fixture
def rig():
    """Controllers with a real registry and action table, listening for OSC on a free loopback port."""
    registry = controller_registry()
    actions = ActionTable()
    fired: list[tuple[str, str | None]] = []
    actions.define("kick", "a kick", lambda arg: fired.append(("kick", arg)))
    actions.define("rule", "the next rule", lambda arg: fired.append(("rule", arg)), takes="next|prev|NAME")
    host = LinesHost()
    controllers = Controllers(registry, actions, host, Settings())
    controllers.osc_in = OscServer(controllers, "127.0.0.1", 0)
    client = Client(controllers.osc_in.address[1])
    yield controllers, client, host, fired
    client.close()
    controllers.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_writes_any_parameter_by_dots_or_slashes_and_per_layer_between_steps(rig):
    controllers, client, host, _ = rig
    registry = controllers.registry
    client.send("/hypnagogia/occluder.x", 0.25)
    client.send("/hypnagogia/occluder/y", 0.75)
    client.send("/hypnagogia/lesion/up/2", 1)
    client.send("/hypnagogia/occluder/mode", "blind")
    client.send("/hypnagogia/steps_per_frame", 3)
    client.send("/hypnagogia/blink", True)
    client.barrier()
    assert registry["occluder.x"] == 0.5, "a write waits for the next step"
    controllers.tick(0.0)
    assert (registry["occluder.x"], registry["occluder.y"]) == (0.25, 0.75)
    assert registry.layers("lesion.up")[:3] == [False, True, False]
    assert registry["occluder.mode"] == "blind"
    assert registry["steps_per_frame"] == 3
    assert registry["blink"] is True
    assert host.lines == []


def test_on_applied_tells_each_osc_write_as_it_lands_and_no_other(rig):
    controllers, client, host, _ = rig
    landed: list = []
    controllers.osc_in.on_applied = lambda address, value: landed.append((address, value, controllers.registry[address]))
    client.send("/hypnagogia/dream", 0.5)
    client.send("/hypnagogia/lesion/down/4", 1.0)
    client.barrier()
    controllers.registry.set("occluder.x", 0.125)         # the panel, say: not from OSC
    assert landed == []
    controllers.tick(0.0)
    assert landed == [("dream", 0.5, 0.5), ("lesion.down.4", True, True)]


BAD = [
    (("/hypnagogia/dreem", 1.0), ["unknown parameter 'dreem'", "did you mean dream"]),
    (("/hypnagogia/dream", math.nan), ["dream expects a number from 0 to 1", "nan"]),
    (("/hypnagogia/dream", math.inf), ["dream expects a number from 0 to 1", "inf"]),
    (("/hypnagogia/dream", "0.5"), ["dream expects a number from 0 to 1", "the string '0.5'", "send an OSC number"]),
    (("/hypnagogia/dream", 1.5), ["dream expects a number from 0 to 1, got 1.5"]),
    (("/hypnagogia/dream", 0.5, 0.6), ["dream takes one value (a number from 0 to 1), got 2"]),
    (("/hypnagogia/dream",), ["dream takes one value", "got 0"]),
    (("/hypnagogia/dream", b"\x00\x01"), ["dream expects a number", "a blob"]),
    (("/hypnagogia/steps_per_frame", 2.5), ["steps_per_frame expects an integer from 1 to 64"]),
    (("/hypnagogia/occluder/mode", "sideways"), ["occluder.mode expects one of off, blind, inverse"]),
    (("/hypnagogia/lesion/up/9", 1), ["layer must be 1 to 8"]),
    (("/hypnagogia/dream/2", 1.0), ["dream is not a per-layer parameter"]),
    (("/other/dream", 1.0), ["not an address of hypnagogia", "/hypnagogia/<parameter> VALUE"]),
    (("/hypnagogia/action/kik",), ["unknown action 'kik'", "did you mean kick"]),
    (("/hypnagogia/action/kick", "now"), ["takes no argument"]),
    (("/hypnagogia/action/rule", "next", "prev"), ["takes at most one argument, got 2"]),
    (("/hypnagogia/get/dreem",), ["unknown parameter 'dreem'"]),
]


@pytest.mark.parametrize("message,needles", BAD, ids=[" ".join(map(str, m)) for m, _ in BAD])
def test_a_bad_message_is_one_line_naming_it_and_the_listener_goes_on(rig, message, needles):
    controllers, client, host, fired = rig
    registry = controllers.registry
    client.send(*message)
    client.send("/hypnagogia/dream", 0.25)           # the next message still lands
    client.barrier()
    controllers.tick(0.0)
    assert len(host.lines) == 1, host.lines
    line = host.lines[0]
    assert line.startswith(f"osc: {message[0]}"), line
    for needle in needles:
        assert needle in line, line
    assert registry["dream"] == 0.25
    assert fired == [] and registry["occluder.mode"] == "off" and not any(registry.layers("lesion.up"))


def test_a_packet_that_is_not_osc_is_one_line(rig):
    controllers, client, host, _ = rig
    client.raw(b"hello, is this the dream?")
    client.barrier()
    assert len(host.lines) == 1 and "is not OSC" in host.lines[0], host.lines


def test_a_flood_of_bad_messages_cannot_bury_the_log(rig):
    controllers, client, host, _ = rig
    for i in range(300):
        client.send("/hypnagogia/dream", 2.0 + i)           # the same address, a new bad value each time
    for i in range(50):
        client.send(f"/hypnagogia/nothing_{i}", 1.0)       # a new bad address each time
    client.send("/hypnagogia/dream", 0.75)
    client.barrier()
    controllers.tick(0.0)
    assert controllers.registry["dream"] == 0.75
    assert sum("osc: /hypnagogia/dream" in line for line in host.lines) == 1, host.lines
    assert len(host.lines) <= BURST, host.lines


def test_complaints_hold_repeats_and_say_how_many_were_held():
    now = [100.0]
    lines: list[str] = []
    complain = Complaints(lines.append, quiet=5.0, burst=3, clock=lambda: now[0])
    for _ in range(4):
        complain("a", "osc: a is wrong")
    assert lines == ["osc: a is wrong"]
    complain("b", "osc: b is wrong")
    complain("c", "osc: c is wrong")
    complain("d", "osc: d is wrong")                 # a fourth problem within the quiet time: held
    assert lines[1:] == ["osc: b is wrong (and 3 more complaints not shown)", "osc: c is wrong"]
    now[0] += 5.5
    complain("a", "osc: a is wrong")
    assert lines[3:] == ["osc: a is wrong (and 1 more complaint not shown)"]


def test_actions_fire_between_steps_and_a_button_release_is_not_a_press(rig):
    controllers, client, host, fired = rig
    client.send("/hypnagogia/action/kick")
    client.send("/hypnagogia/action/kick", 1.0)      # a button pressed …
    client.send("/hypnagogia/action/kick", 0.0)      # … and released
    client.send("/hypnagogia/action/rule", "prev")
    client.send("/hypnagogia/action/rule", 2.0)
    client.send("/hypnagogia/action/rule")
    client.barrier()
    assert fired == [], "actions wait for the next step"
    controllers.tick(0.0)
    assert fired == [("kick", None), ("kick", None), ("rule", "prev"), ("rule", "2"), ("rule", None)]
    assert host.lines == []


def test_presets_by_name_or_number_go_to_the_preset_action(rig):
    controllers, client, host, fired = rig
    controllers.actions.define("preset", "recall a preset", lambda arg: fired.append(("preset", arg)),
                               takes="NAME|NUMBER")
    client.send("/hypnagogia/preset/3")
    client.send("/hypnagogia/preset/calm", 1)
    client.send("/hypnagogia/preset/calm", 0)        # the button's release
    client.send("/hypnagogia/preset", "deep sea")
    client.send("/hypnagogia/preset", 7.0)
    client.send("/hypnagogia/preset", 1.0, 2.0)
    for step in ("next", "prev"):
        controllers.actions.define(f"preset.{step}", "a step", lambda _, step=step: fired.append((step, None)))
        client.send(f"/hypnagogia/preset/{step}")
    client.barrier()
    controllers.tick(0.0)
    assert fired == [("preset", "3"), ("preset", "calm"), ("preset", "deep sea"), ("preset", "7"), ("next", None),
                     ("prev", None)]
    assert len(host.lines) == 1 and "takes one preset name or number" in host.lines[0], host.lines


def test_a_preset_that_is_not_there_is_one_line_at_the_step(rig):
    controllers, client, host, _ = rig
    client.send("/hypnagogia/preset/999")
    client.barrier()
    controllers.tick(0.0)
    assert len(host.lines) == 1 and "no preset number 999" in host.lines[0], host.lines


def test_get_answers_the_sender_with_the_value_now(rig):
    controllers, client, host, _ = rig
    controllers.registry.set("lesion.down.3", True)
    client.send("/hypnagogia/get/occluder/x")
    client.send("/hypnagogia/get/lesion.down.3")
    client.send("/hypnagogia/get/occluder/fill")
    answers = client.answers(3)
    assert [(m.address, m.params) for m in answers] == [
        ("/hypnagogia/occluder/x", [0.5]), ("/hypnagogia/lesion/down/3", [1]), ("/hypnagogia/occluder/fill", ["gray"])]
    everything = controllers.registry.snapshot()
    client.send("/hypnagogia/get")
    got = {m.address: m.params[0] for m in client.answers(len(everything))}
    assert len(got) == len(everything)
    assert got["/hypnagogia/dream"] == 0.0 and got["/hypnagogia/lesion/down/3"] == 1
    assert host.lines == []


def test_the_listener_binds_the_loopback_unless_told_otherwise():
    port = free_port()
    for spec, bound in ((str(port), "127.0.0.1"), (f"0.0.0.0:{port}", "0.0.0.0")):
        args = build_parser().parse_args(["record", "--out", "x.mp4", "--osc-in", spec])
        controllers = Controllers(controller_registry(), ActionTable(), LinesHost(), Settings())
        controllers.open_from_args(args)
        try:
            assert controllers.osc_in.address == (bound, port)
        finally:
            controllers.close()


def test_a_port_in_use_or_a_host_unknown_is_a_user_error():
    controllers = Controllers(controller_registry(), ActionTable(), LinesHost(), Settings())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"port {port} is already in use"):
            OscServer(controllers, "127.0.0.1", port)
    with pytest.raises(UserError, match="cannot find the host 'no-such-host.invalid'"):
        OscServer(controllers, "no-such-host.invalid", 9000)
    with pytest.raises(UserError, match="cannot find the host 'no-such-host.invalid'"):
        OscSender(controllers.registry, "no-such-host.invalid", 9000)


def test_record_with_its_osc_port_taken_is_one_line_and_writes_nothing(tmp_path, model_arg):
    out = tmp_path / "x.mp4"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = run_cli("record", "--osc-in", str(port), "--steps", "5", "--size", "64", "--out", str(out),
                         *model_arg)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert lines == [f"hypnagogia: error: --osc-in 127.0.0.1:{port}: port {port} is already in use by another "
                     f"program; choose another port, e.g. --osc-in {port + 1}"], result.stderr
    assert list(tmp_path.iterdir()) == []


class Receiver:
    """A python-osc server on a free loopback port that keeps every message, in order."""

    def __init__(self):
        self.messages: list[tuple[str, list]] = []
        self._lock = threading.Lock()
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._keep)
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _keep(self, address, *args):
        with self._lock:
            self.messages.append((address, list(args)))

    def values(self, address: str) -> list:
        with self._lock:
            return [args[0] for a, args in self.messages if a == address]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def receiver():
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def wait_until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_sender_sends_every_change_and_the_readouts():
    registry = make_registry()
    with receiver() as r:
        sender = OscSender(registry, "127.0.0.1", r.port)
        try:
            registry.set("occluder.x", 0.25)
            registry.set("lesion.up.2", True)
            registry.set("occluder.fill", "noise")
            registry.set("steps_per_frame", 4)
            sender.send_readouts({"step": 12, "change": 0.5, "top_change": np.float32(0.25), "error": 0.125,
                                  "verdict": "fixed point", "audio.low": 0.75, "nothing": None})
            sender.send_readouts({"error": 1e300})          # beyond a 32-bit float: as the infinity it rounds to
            wait_until(lambda: len(r.messages) == 11, "eleven messages")
        finally:
            sender.close()
        registry.set("dream", 1.0)                      # after close: nothing more is sent
        time.sleep(0.2)
    assert r.messages == [
        ("/hypnagogia/occluder/x", [0.25]), ("/hypnagogia/lesion/up/2", [1]), ("/hypnagogia/occluder/fill", ["noise"]),
        ("/hypnagogia/steps_per_frame", [4]),
        ("/hypnagogia/readout/step", [12.0]), ("/hypnagogia/readout/change", [0.5]),
        ("/hypnagogia/readout/top_change", [0.25]), ("/hypnagogia/readout/error", [0.125]),
        ("/hypnagogia/readout/verdict", ["fixed point"]), ("/hypnagogia/readout/audio/low", [0.75]),
        ("/hypnagogia/readout/error", [math.inf])]


def test_sending_to_nobody_is_silent_and_an_unreachable_network_is_one_line(tmp_path):
    lines: list[str] = []
    registry = make_registry()
    sender = OscSender(registry, "127.0.0.1", free_port(), notify=lines.append)       # nobody listens there
    for i in range(20):
        registry.set("dream", i / 20)
        sender.send_readouts({"step": i})
    sender.close()
    assert lines == []
    # a network namespace of its own has no route anywhere: every send fails there
    script = textwrap.dedent("""
        import json
        from app.controllers.osc import OscSender
        from app.params import make_registry
        lines = []
        registry = make_registry()
        sender = OscSender(registry, "192.0.2.1", 9000, notify=lines.append)
        for i in range(20):
            registry.set("dream", i / 20)
            sender.send_readouts({"step": i, "error": 0.5})
        sender.close()
        print(json.dumps(lines))
    """)
    result = subprocess.run(["unshare", "--net", sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    if result.returncode != 0 and "unshare" in result.stderr:
        pytest.skip(f"no network namespace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["osc out: cannot send to 192.0.2.1:9000: Network is unreachable; the dream "
                                         "goes on without it (check the address and the network)"]


def decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


STEPS = 400


def test_an_osc_message_lands_on_a_step_and_the_same_cue_renders_the_same_frames(tmp_path, shipped_checkpoint):
    """The acceptance: a live change over OSC, recorded, and rendered again offline with --cue."""
    common = ["record", "--source", "sample", "--steps", str(STEPS), "--size", "64", "--quiet",
              "--model", str(shipped_checkpoint)]
    port_in = free_port()
    live = tmp_path / "live.mp4"
    with receiver() as r:
        proc = subprocess.Popen([sys.executable, "-m", "app", *common, "--osc-in", f"127.0.0.1:{port_in}",
                                 "--osc-out", f"127.0.0.1:{r.port}", "--out", str(live)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: len(r.values("/hypnagogia/readout/step")) >= 20 or proc.poll() is not None,
                       "the first readouts", timeout=240)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:     # the performer moves a fader
                s.sendto(build_msg("/hypnagogia/dream", 1.0).dgram, ("127.0.0.1", port_in))
            _, stderr = proc.communicate(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        time.sleep(0.2)                                  # the last datagrams on their way
        assert proc.returncode == 0, stderr
        steps = r.values("/hypnagogia/readout/step")
        echoes = r.values("/hypnagogia/dream")
        errors = r.values("/hypnagogia/readout/error")
    # every step's readouts, once each and in order (the last two steps' values are measured after
    # the last frame is shown, so they are never sent)
    assert steps == [float(s) for s in range(len(steps))] and len(steps) >= STEPS - 2, steps
    assert len(errors) == len(steps) and all(math.isfinite(e) for e in errors)
    assert echoes == [1.0], "the change goes out too"
    found = re.findall(r"^osc: dream=1\.0 from step (\d+) \(--cue (\d+):dream=1\.0 renders it again\)$", stderr, re.M)
    assert len(found) == 1 and found[0][0] == found[0][1], stderr
    k = int(found[0][0])
    assert 20 <= k < STEPS - 20, f"the message landed on step {k}, not in the middle of the run"

    cued, plain = tmp_path / "cued.mp4", tmp_path / "plain.mp4"
    for out, extra in ((cued, ["--cue", f"{k}:dream=1"]), (plain, [])):
        result = run_cli(*common, "--out", str(out), *extra)
        assert result.returncode == 0, result.stderr
    live_frames, cued_frames, plain_frames = decode(live), decode(cued), decode(plain)
    assert len(live_frames) == len(cued_frames) == len(plain_frames) == STEPS
    different = [i for i, (a, b) in enumerate(zip(live_frames, cued_frames)) if not np.array_equal(a, b)]
    assert different == [], f"the OSC render and the --cue render differ at frames {different[:10]}"
    assert all(np.array_equal(a, b) for a, b in zip(live_frames[:k], plain_frames[:k])), "before the change"
    change = [np.abs(a.astype(np.float32) - b).mean() for a, b in zip(live_frames[k:], plain_frames[k:])]
    assert max(change) > 10, f"dreaming from step {k} changed nothing: {max(change):.2f}/255 at most"
