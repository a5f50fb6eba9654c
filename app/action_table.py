"""Named triggers that any controller can fire: a key, a MIDI pad, an OSC message, an audio onset.

The program that runs the loop (the window, ``record``) defines what each action does; controllers
only ask for one by name, from any thread. The requests wait in a queue and run in the loop's own
thread between steps, so an action never lands in the middle of a step.
"""

from __future__ import annotations

import difflib
import queue
from dataclasses import dataclass
from typing import Callable

from app.errors import UserError


class ActionError(ValueError):
    """An unknown action name, or an argument the action refuses; the message says what is allowed."""


@dataclass(frozen=True)
class Action:
    name: str
    help: str
    run: Callable[[str | None], None]     # called with the request's argument (None when it has none)
    takes: str = ""                       # what the argument is ("" for none), for help and OSC


class ActionTable:
    def __init__(self):
        self._actions: dict[str, Action] = {}
        self._pending: queue.SimpleQueue = queue.SimpleQueue()

    def define(self, name: str, help: str, run: Callable[[str | None], None], takes: str = "") -> None:
        self._actions[name] = Action(name, help, run, takes)

    def __contains__(self, name: str) -> bool:
        return name in self._actions

    def names(self) -> list[str]:
        return list(self._actions)

    def actions(self) -> list[Action]:
        return list(self._actions.values())

    def check(self, name: str) -> Action:
        try:
            return self._actions[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._actions), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"actions: {', '.join(self._actions)}"
            raise ActionError(f"unknown action {name!r}; {hint}") from None

    def request(self, name: str, argument: str | None = None) -> None:
        """Ask for ``name`` to run at the next step (any thread). Raises ActionError for a name that
        is not defined here."""
        self.check(name)
        self._pending.put((name, argument))

    def run_pending(self) -> list[str]:
        """Run the requested actions in order (the loop's thread); returns one line for each that
        failed (a preset that is missing, a recording that cannot start), the others ran."""
        problems = []
        while True:
            try:
                name, argument = self._pending.get_nowait()
            except queue.Empty:
                return problems
            try:
                self._actions[name].run(argument)
            except (UserError, ActionError, ValueError) as e:
                problems.append(f"action {name}: {e}")
