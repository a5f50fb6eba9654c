"""All the controllers of one running loop, ticked once per step in the loop's thread.

Controllers that listen in threads of their own (OSC, MIDI) never write the registry there: they
``submit`` writes, which wait in a queue and are applied here, between steps, in the order they
came; so a message never lands in the middle of a step, and an offline render that receives the
same messages at the same steps renders the same frames.

Order within a tick: MIDI, submitted writes, requested actions, the morph, the modulators, audio,
and last the readouts out (OSC).
"""

from __future__ import annotations

import contextlib
import queue
from typing import Any, Protocol

import numpy as np

from app.action_table import ActionTable
from app.errors import UserError
from app.controllers.audio import AudioReactor
from app.controllers.modulators import ModulatorBank
from app.controllers.morph import Morph
from app.controllers.presets import Preset, PresetBank, PresetError, capture, restore_parts
from app.controllers.settings import Settings
from app.controllers.tempo import Tempo
from app.params import ParamError, Registry


class Host(Protocol):
    """What the program running the loop (the window, ``record``) offers the controllers."""

    def model_name(self) -> str: ...
    def source_spec(self) -> str: ...
    def switch_model(self, name: str) -> None: ...        # raises UserError where it cannot
    def switch_source(self, spec: str) -> None: ...       # raises UserError where it cannot
    def thumbnail(self) -> np.ndarray | None: ...        # the view now, small, RGB uint8 (for presets)
    def notify(self, message: str) -> None: ...          # one line for the console and the panel


class Controllers:
    def __init__(self, registry: Registry, actions: ActionTable, host: Host, settings: Settings | None = None):
        self.registry, self.actions, self.host = registry, actions, host
        self.settings = settings or Settings()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.tempo = Tempo(registry)
        self.presets = PresetBank()
        self.morph = Morph(registry, self.tempo, self._bases, host.notify)
        self.modulators = ModulatorBank(registry, self.tempo)
        self.modulators.define_actions(actions)
        self.audio = AudioReactor(registry, actions)
        self.midi = None          # app.controllers.midi.MidiController, once MIDI is wanted
        self.osc_in = None        # app.controllers.osc.OscServer, with --osc-in
        self.osc_out = None       # app.controllers.osc.OscSender, with --osc-out
        self.now = 0.0            # the host's clock at the last tick
        actions.define("tap", "tap tempo: the beat falls on the tap", lambda _: self.tempo.tap(self.now))
        self.preset_name = ""     # the preset recalled or saved last, which preset.next and preset.prev step from
        actions.define("preset", "recall a preset by name or number, morphing over morph.time", self.recall,
                       takes="NAME|N")
        actions.define("preset.next", "recall the next preset", lambda _: self._recall_next(1))
        actions.define("preset.prev", "recall the previous preset", lambda _: self._recall_next(-1))

    def open_from_args(self, args, *, midi: bool = False) -> None:
        """The controllers a command's options ask for (``--osc-in``, ``--osc-out``, ``--midi-in``, and
        ``--preset``'s modulators and audio mappings); ``midi``: make the MIDI controller even without
        ports named (the window, whose panel picks them)."""
        if getattr(args, "osc_in", None):
            from app.controllers.osc import OscServer
            self.osc_in = OscServer(self, *args.osc_in)
        if getattr(args, "osc_out", None):
            from app.controllers.osc import OscSender
            self.osc_out = OscSender(self.registry, *args.osc_out, notify=self.host.notify)
        if midi or getattr(args, "midi_in", None):
            from app.controllers.midi import MidiController
            self.midi = MidiController(self)
            for name in getattr(args, "midi_in", None) or ():
                self.midi.open_input(name)
        start = getattr(args, "start_preset", None)      # --preset: its values are in the registry already
        if start is not None:
            self.preset_name = start.name
            for line in restore_parts(start, self._parts()):
                self.host.notify(line)

    # ---- presets ------------------------------------------------------------------------------
    def _parts(self) -> dict:
        """The controllers whose own lists a preset holds (``app.controllers.presets.PARTS``)."""
        return {"modulators": self.modulators, "audio": self.audio}

    def _bases(self) -> dict:
        """The base value of every modulated address: what a preset saves and a morph moves."""
        return {**self.modulators.bases(), **self.audio.bases()}

    def save_preset(self, name: str, *, description: str = "", overwrite: bool = False,
                    with_source: bool = True) -> Preset:
        """The look now as the user's preset ``name``, with a thumbnail of the view; overwriting
        keeps the old description unless given a new one. Raises PresetError."""
        if overwrite and not description:
            with contextlib.suppress(PresetError):
                description = self.presets.load(name).description
        preset = capture(self.registry, name, model=self.host.model_name(),
                         source=self.host.source_spec() if with_source else None, parts=self._parts(),
                         description=description)
        self.presets.save(preset, overwrite=overwrite, thumbnail=self.host.thumbnail())
        self.preset_name = preset.name
        return preset

    def recall(self, which: str | None) -> Preset:
        """Go to the preset ``which`` (name, 1-based number or path) over the morph time. A missing
        or bad preset raises PresetError and changes nothing; unknown fields are named in one line."""
        if not which:
            raise PresetError("which preset? give its name or number")
        preset = self.presets.load(which)
        values, unknown = preset.checked(self.registry)
        line = preset.unknown_line(unknown)
        if line:
            self.host.notify(line)
        self.morph.start(values, lambda: self._switch_to(preset))
        self.preset_name = preset.name
        return preset

    def _switch_to(self, preset: Preset) -> None:
        """What a recall switches besides the values: the model and source it names, its modulators
        and audio mappings. What cannot switch is one line; the rest goes on."""
        for wanted, running, switch in ((preset.model, self.host.model_name, self.host.switch_model),
                                        (preset.source, self.host.source_spec, self.host.switch_source)):
            if wanted and wanted != running():
                try:
                    switch(wanted)
                except UserError as e:
                    self.host.notify(f"preset {preset.name}: {e}")
        for line in restore_parts(preset, self._parts()):
            self.host.notify(line)

    def _recall_next(self, step: int) -> None:
        entries = self.presets.entries()
        if not entries:
            raise PresetError("there are no presets yet; save one from the panel's Presets tab")
        number = self.presets.number_of(self.preset_name)
        index = (number - 1 + step) % len(entries) if number else (0 if step > 0 else len(entries) - 1)
        self.recall(str(index + 1))

    def submit(self, address: str, value: Any, origin: str) -> None:
        """Write ``address`` at the next tick (any thread); ``origin`` names the sender in the line
        logged when the write is refused."""
        self._inbox.put((address, value, origin))

    def tick(self, now: float, readouts: dict[str, Any] | None = None) -> None:
        """Once per step, before it, in the loop's thread; ``now`` is the host's clock in seconds and
        ``readouts`` what the last step measured (sent out over OSC)."""
        self.now = now
        if self.midi is not None:
            self.midi.tick(now)
        while True:
            try:
                address, value, origin = self._inbox.get_nowait()
            except queue.Empty:
                break
            try:
                self.registry.set(address, value)
            except ParamError as e:
                self.host.notify(f"{origin}: {e}")
        for problem in self.actions.run_pending():
            self.host.notify(problem)
        self.morph.tick(now)
        with self.morph.unattended():         # an LFO's or a song's moves are no hand's: a morph goes on
            self.modulators.tick(now)
            self.audio.tick(now)
        if self.osc_out is not None:
            self.osc_out.send_readouts({**(readouts or {}), **self.audio.readouts()})

    def close(self) -> None:
        for part in (self.midi, self.osc_in, self.osc_out, self.audio, self.morph):
            if part is not None:
                part.close()
