"""MIDI in and out: ports chosen by name, learn, mappings to parameters and actions, clock, feedback.

Messages arrive on rtmidi's thread or are read from a network port (``HOST:PORT``, a mido
``PortServer``); each is stamped with the time it arrived and waits in a queue until ``tick(now)``,
in the loop's thread, applies it: the registry is written between steps only. The port names are
read again about once a second, so a device plugged in later appears, and a chosen one opens.

With a feedback output, every change of a mapped parameter, whoever made it, goes back to its
control (a CC value, or a note on / off) so that a controller's LEDs and motor faders follow; a CC
that moved a parameter is not sent back to itself.

The chosen ports and the mappings are kept in the user's settings (section ``midi``).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import mido

from app.action_table import ActionError
from app.controllers.midi_mapping import Control, Mapping, base_param, describe_target, resolve, split_action
from app.controllers.midi_ports import MidiPortError, NetworkPort, SystemPorts, find_port, is_network_name, \
    stable_name
from app.params import ParamError

SECTION = "midi"
PORT_POLL_S = 1.0


class MidiController:
    def __init__(self, controllers):
        self.controllers = controllers
        self.registry, self.actions = controllers.registry, controllers.actions
        self.system = SystemPorts()
        self.input_names: list[str] = []          # the computer's ports at the last look
        self.output_names: list[str] = []
        self.inputs: dict[str, Any] = {}          # open inputs: name → system port or NetworkPort
        self.output: Any = None                   # the feedback port, while one is open
        self.output_name = ""
        self.wanted_inputs: list[str] = []        # the chosen inputs: each opens whenever it is there
        self.wanted_output = ""
        self.mappings: list[Mapping] = []         # at most one per control and one per target
        self.unfit: list[tuple[Any, str]] = []    # settings entries that do not fit now, and why (kept)
        self.learning: str | None = None          # the target the next CC or note will be mapped to
        self.last_learned = ""
        self._arrivals: queue.SimpleQueue = queue.SimpleQueue()    # (monotonic time, message)
        self._changes: queue.SimpleQueue = queue.SimpleQueue()     # (address, control that wrote it or None)
        self._writer: tuple[int, Control] | None = None            # (thread, control) while MIDI writes
        self._levels: dict[Control, int] = {}     # the level each control shows (sent or moved to)
        self._cc_high: dict[Control, bool] = {}   # CCs that fire actions: above the middle now
        self._told: set[str] = set()              # lines already shown once (missing ports, broken mappings)
        self._output_live = False                 # a network output is connected
        self._last_time = float("-inf")
        self._next_poll = 0.0
        self._looked = False
        self._stop_listening = self.registry.listen(self._changed)
        self._restore()
        self._poll()

    # --- ports -------------------------------------------------------------------------------------

    def available_inputs(self) -> list[str]:
        return list(self.input_names)

    def available_outputs(self) -> list[str]:
        return list(self.output_names)

    def open_input(self, name: str) -> None:
        """Open the input whose name contains ``name`` (or the network port ``HOST:PORT``); one not
        there now opens when it appears."""
        name = name.strip()
        if not name:
            self._notify("MIDI in: the port name is empty; name one of " + self._listing(self.input_names))
            return
        if not any(_same(name, w) for w in self.wanted_inputs):
            self.wanted_inputs.append(name)
        self._open_wanted(asked=name)

    def close_input(self, name: str) -> None:
        self.wanted_inputs = [w for w in self.wanted_inputs if not _same(w, name)]
        for open_name in [n for n in self.inputs if _same(name, n)]:
            self.inputs.pop(open_name).close()

    def open_output(self, name: str) -> None:
        """Send feedback to the output whose name contains ``name`` (or ``HOST:PORT``); "" sends none."""
        self._close_output()
        self.wanted_output = name.strip()
        self._open_output(report=True)

    def choose_input(self, name: str, chosen: bool) -> None:
        """The panel's choice: open or close ``name`` and keep the choice in the settings."""
        if chosen:
            self.open_input(stable_name(name))
        else:
            self.close_input(stable_name(name))
        self.save()

    def choose_output(self, name: str) -> None:
        self.open_output(stable_name(name))
        self.save()

    def is_open(self, name: str) -> bool:
        port = self.inputs.get(name)
        return port is not None and getattr(port, "connected", True)

    def is_chosen(self, name: str) -> bool:
        return any(_same(w, name) for w in self.wanted_inputs)

    @property
    def problem(self) -> str:
        """Why the computer's ports cannot be listed ("" when they can)."""
        return self.system.problem

    def _poll(self) -> None:
        inputs, outputs = self.system.names()
        if self._looked:
            for name in sorted(set(inputs) - set(self.input_names)):
                self._notify(f"MIDI in appeared: {name}")
        for name in [n for n, port in self.inputs.items() if not isinstance(port, NetworkPort) and n not in inputs]:
            self.inputs.pop(name).close()
            self._notify(f"MIDI in {name} went away; it opens again when it comes back")
        if self.output is not None and not isinstance(self.output, NetworkPort) and self.output_name not in outputs:
            self._notify(f"MIDI out {self.output_name} went away; feedback resumes when it comes back")
            self._close_output()
        self.input_names, self.output_names, self._looked = inputs, outputs, True
        if not self.system.problem:
            self._told.discard("system")
        self._open_wanted()
        if self.output is None and self.wanted_output:
            self._open_output(report=False)

    def _open_wanted(self, asked: str = "") -> None:
        """Open the chosen inputs that are there; ``asked``: the one the user just named (told again
        what is wrong with it)."""
        for wanted in list(self.wanted_inputs):
            report = _same(wanted, asked) if asked else False
            if any(_same(wanted, n) for n in self.inputs):
                continue
            found = find_port(wanted, self.input_names)
            if found is None and is_network_name(wanted):
                try:
                    self.inputs[wanted] = NetworkPort(wanted, "MIDI in", self._notify)
                except MidiPortError as e:
                    self.wanted_inputs.remove(wanted)     # an address that can never connect
                    self._notify(str(e))
                continue
            if found is None:
                self._missing("MIDI in", wanted, self.input_names, report)
                continue
            try:
                self.inputs[found] = self.system.open_input(found, self._arrived)
            except MidiPortError as e:
                self._tell(str(e), f"open:{found}", report)
                continue
            self._told.discard(f"missing:{wanted}")
            self._notify(f"MIDI in {found}: open")

    def _open_output(self, report: bool) -> None:
        name = self.wanted_output
        if not name:
            return
        found = find_port(name, self.output_names)
        if found is None and is_network_name(name):
            try:
                self.output, self.output_name = NetworkPort(name, "MIDI out", self._notify), name
            except MidiPortError as e:
                self.wanted_output = ""                   # an address that can never connect
                self._notify(str(e))
            return                                        # the feedback starts once it connects (tick)
        if found is None:
            self._missing("MIDI out", name, self.output_names, report)
            return
        try:
            self.output, self.output_name = self.system.open_output(found), found
        except MidiPortError as e:
            self._tell(str(e), f"open:{found}", report)
            return
        self._told.discard(f"missing:{name}")
        self._notify(f"MIDI out {found}: feedback goes there")
        self._send_all()

    def _close_output(self) -> None:
        if self.output is not None:
            self.output.close()
        self.output, self.output_name, self._output_live = None, "", False

    def _missing(self, role: str, name: str, names: list[str], report: bool) -> None:
        if self.system.problem:
            self._tell(f"{role} {name}: {self.system.problem}", "system", report)
        else:
            kind = "inputs" if role == "MIDI in" else "outputs"
            self._tell(f"{role} {name}: no such port; {kind} here: {self._listing(names)} (it opens when it "
                       f"appears)", f"missing:{name}", report)

    def _listing(self, names: list[str]) -> str:
        return ", ".join(names) if names else "none"

    def _arrived(self, message: mido.Message) -> None:
        """A message from a system port (rtmidi's thread)."""
        self._arrivals.put((time.monotonic(), message))

    # --- the loop's side ---------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Once per step in the loop's thread: look for new ports now and then, read the network ports,
        apply what arrived (in order, each at the time it arrived on the host's clock ``now``) and send
        the feedback."""
        clock = time.monotonic()
        if clock >= self._next_poll:
            self._next_poll = clock + PORT_POLL_S
            self._poll()
        for port in self.inputs.values():
            if isinstance(port, NetworkPort):
                for message in port.poll(clock):
                    self._arrivals.put((clock, message))
        if isinstance(self.output, NetworkPort):
            self.output.poll(clock)                       # connects; what the server sends is not wanted
            if self.output.connected and not self._output_live:
                self._send_all()                          # the device starts from the state as it is
            self._output_live = self.output.connected
        offset = now - clock
        while True:
            try:
                arrived, message = self._arrivals.get_nowait()
            except queue.Empty:
                break
            self._last_time = min(now, max(self._last_time, arrived + offset))
            self.receive(message, self._last_time)
        self._send_changes()

    def receive(self, message: mido.Message, now: float) -> None:
        """Apply one MIDI message that arrived at ``now`` (the host's clock)."""
        if message.type == "clock":
            self.controllers.tempo.midi_clock(now)
            return
        if message.type == "start":
            self.controllers.tempo.midi_start(now)
            return
        control = Control.of(message)
        if control is None:
            return
        pressed = message.type == "note_on" and message.velocity > 0
        if self.learning is not None:
            if control.kind == "cc" or pressed:
                self._learn(control)
            return
        mapping = next((m for m in self.mappings if m.control == control), None)
        if mapping is not None:
            self._apply(mapping, message.value if control.kind == "cc" else None, pressed)

    def _apply(self, mapping: Mapping, level: int | None, pressed: bool) -> None:
        action = split_action(mapping.target)
        if action is not None:
            if level is not None:                         # a CC fires when it crosses the middle upwards
                was_high = self._cc_high.get(mapping.control, False)
                self._cc_high[mapping.control] = level >= 64
                pressed = level >= 64 and not was_high
            if pressed:
                try:
                    self.actions.request(*action)
                except ActionError as e:
                    self._broken(mapping, e)
            return
        try:
            param = base_param(self.registry, mapping.target)
            if level is not None:
                value = mapping.value_of_cc(param, level)
            elif pressed:
                value = mapping.value_of_press(param, self.registry[mapping.target])
            else:
                value = mapping.value_of_release(param)
                if value is None:
                    return
            if level is not None:
                self._levels[mapping.control] = level       # the knob is there already: no echo
                self._writer = (threading.get_ident(), mapping.control)
            try:
                self.registry.set(mapping.target, value)
            finally:
                self._writer = None
        except ParamError as e:
            self._broken(mapping, e)

    def _broken(self, mapping: Mapping, error: Exception) -> None:
        self._tell(f"MIDI {mapping.describe()}: {error}", f"broken:{mapping.target}", False)

    # --- learn -------------------------------------------------------------------------------------

    def learn(self, target: str) -> None:
        """The next CC or note-on is mapped to ``target`` (a parameter address, or ``action:NAME`` /
        ``action:NAME=ARGUMENT``), replacing the mappings of that control and of that target."""
        try:
            resolve(target, self.registry, self.actions)
        except ValueError as e:
            self._notify(f"MIDI learn {describe_target(target)}: {e}")
            return
        self.learning = target

    def cancel_learn(self) -> None:
        self.learning = None

    def _learn(self, control: Control) -> None:
        mapping = Mapping(control, self.learning)
        self.learning = None
        self._drop_clashes(mapping)
        self.mappings.append(mapping)
        self.last_learned = mapping.describe()
        self._notify(f"MIDI learned: {self.last_learned}")
        self.save()
        self._send_state(mapping)

    def _drop_clashes(self, mapping: Mapping) -> None:
        self.mappings = [m for m in self.mappings if m.control != mapping.control and m.target != mapping.target]
        kept = []
        for entry, problem in self.unfit:
            try:
                old = Mapping.from_settings(entry)
                if old.control == mapping.control or old.target == mapping.target:
                    continue
            except ValueError:
                pass
            kept.append((entry, problem))
        self.unfit = kept

    def mappings_of(self, target: str) -> list[Mapping]:
        return [m for m in self.mappings if m.target == target]

    def forget(self, target: str) -> None:
        """Remove the mappings of ``target``."""
        self.mappings = [m for m in self.mappings if m.target != target]
        self.save()

    def remove_unfit(self, index: int) -> None:
        del self.unfit[index]
        self.save()

    def edit(self, mapping: Mapping, **changes) -> str:
        """Change ``low``, ``high``, ``invert`` or ``momentary`` of ``mapping`` (kept only if its range
        fits the parameter); returns "" or the line saying why not. The caller saves when the edit ends."""
        old = {key: getattr(mapping, key) for key in changes}
        for key, value in changes.items():
            setattr(mapping, key, value)
        try:
            param = resolve(mapping.target, self.registry, self.actions)
            if param is not None:
                mapping.check_range(param)
        except ValueError as e:
            for key, value in old.items():
                setattr(mapping, key, value)
            return f"MIDI {mapping.describe()}: {e}"
        self._levels.pop(mapping.control, None)
        self._send_state(mapping)
        return ""

    # --- feedback ----------------------------------------------------------------------------------

    def _changed(self, address: str, value: Any) -> None:
        """Every write of the registry, in the writer's thread: noted, sent at the next tick."""
        writer = self._writer
        own = writer is not None and writer[0] == threading.get_ident()
        self._changes.put((address, writer[1] if own else None))

    def _send_changes(self) -> None:
        changed: dict[str, Control | None] = {}
        while True:
            try:
                address, control = self._changes.get_nowait()
            except queue.Empty:
                break
            changed[_base_name(self.registry, address)] = control
        if self.output is None or not changed:
            return
        for mapping in self.mappings:
            if mapping.is_action:
                continue
            name = _base_name(self.registry, mapping.target)
            if name in changed and changed[name] != mapping.control:
                self._send_state(mapping)

    def _send_all(self) -> None:
        self._levels.clear()
        for mapping in self.mappings:
            self._send_state(mapping)

    def _send_state(self, mapping: Mapping) -> None:
        """Show the target's value on the mapping's control (once per change of level)."""
        if self.output is None or mapping.is_action:
            return
        try:
            param = base_param(self.registry, mapping.target)
        except ParamError:
            return
        level = mapping.level_of(param, self.registry[mapping.target])
        if self._levels.get(mapping.control) == level:
            return
        self._levels[mapping.control] = level
        message = mapping.control.message(level)
        if isinstance(self.output, NetworkPort):
            self.output.send(message, time.monotonic())
            return
        try:
            self.output.send(message)
        except MidiPortError as e:
            self._tell(str(e), "send", False)

    # --- settings ----------------------------------------------------------------------------------

    def save(self) -> None:
        section = {"inputs": list(self.wanted_inputs), "output": self.wanted_output,
                   "mappings": [m.to_settings() for m in self.mappings] + [entry for entry, _ in self.unfit]}
        problem = self.controllers.settings.put(SECTION, section)
        if problem:
            self._notify(problem)

    def _restore(self) -> None:
        section = self.controllers.settings.get(SECTION, {})
        if not isinstance(section, dict):
            self._notify(f"settings: {SECTION} is not an object; MIDI starts without mappings or ports")
            return
        inputs, output = section.get("inputs", []), section.get("output", "")
        if isinstance(inputs, list) and all(isinstance(n, str) for n in inputs):
            self.wanted_inputs = [n for n in inputs if n.strip()]
        else:
            self._notify(f"settings: {SECTION}.inputs is not a list of port names; no input opens by itself")
        if isinstance(output, str):
            self.wanted_output = output.strip()
        else:
            self._notify(f"settings: {SECTION}.output is not a port name; feedback is off")
        entries = section.get("mappings", [])
        if not isinstance(entries, list):
            self._notify(f"settings: {SECTION}.mappings is not a list; MIDI starts without mappings")
            return
        for number, entry in enumerate(entries, 1):
            what = f"MIDI settings: mapping {number}"
            try:
                mapping = Mapping.from_settings(entry)
                what += f" ({mapping.describe()})"
                param = resolve(mapping.target, self.registry, self.actions)
                if param is not None:
                    mapping.check_range(param)
            except ValueError as e:
                self.unfit.append((entry, str(e)))
                self._notify(f"{what} does not fit: {e}; it is kept in the settings, unused")
                continue
            self._drop_clashes(mapping)
            self.mappings.append(mapping)

    # -----------------------------------------------------------------------------------------------

    def _notify(self, line: str) -> None:
        self.controllers.host.notify(line)

    def _tell(self, line: str, key: str, report: bool) -> None:
        """``line`` once for ``key``, so that a port that stays missing is not announced at every look;
        ``report``: say it again (the user asked for this port)."""
        if report or key not in self._told:
            self._told.add(key)
            self._notify(line)

    def close(self) -> None:
        self._stop_listening()
        for port in self.inputs.values():
            port.close()
        self.inputs.clear()
        self._close_output()
        self.system.close()


def _same(wanted: str, name: str) -> bool:
    return find_port(wanted, [name]) is not None or find_port(name, [wanted]) is not None


def _base_name(registry, address: str) -> str:
    return address if address in registry else address.rpartition(".")[0]


