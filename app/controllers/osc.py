"""OSC in and out: any parameter, action or preset from TouchDesigner, Max, TouchOSC, …; every
parameter change and the dream's readouts back out.

In (``--osc-in``), under ``/hypnagogia``:

* ``/hypnagogia/<parameter> VALUE`` writes a parameter; the address may be written with dots or
  slashes (``/hypnagogia/occluder.x``, ``/hypnagogia/occluder/x``), a per-layer one with its layer
  last (``/hypnagogia/lesion/up/2``). Numeric parameters take an OSC number, not a string.
* ``/hypnagogia/action/<name> [ARG]`` fires an action. An action that takes no argument fires on a
  non-zero number and ignores a zero, so a button that sends 1 when pressed and 0 when released
  fires it once.
* ``/hypnagogia/preset/<name or number>`` (or ``/hypnagogia/preset NAME``) recalls a preset, with
  the same button rule; ``/hypnagogia/preset/next`` and ``/hypnagogia/preset/prev`` step through them.
* ``/hypnagogia/get/<parameter>`` answers the sender with ``/hypnagogia/<parameter> VALUE``;
  ``/hypnagogia/get`` answers with every parameter.

Every message is checked as it arrives, in the listener's thread; a bad one is one line naming the
address and what it allows (the same problem again within a few seconds is counted, not repeated),
and the listener goes on. Good writes are handed to the controllers, which apply them between steps.
Bundles' time tags are not waited for: their messages apply at the next step.

Out (``--osc-out``): every parameter change as ``/hypnagogia/<parameter with slashes> VALUE`` and,
every frame, each readout as ``/hypnagogia/readout/<name> VALUE`` (numbers as floats, text as
strings). Sending never waits: a datagram the network cannot take now is dropped.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import math
import numbers
import socket
import socketserver
import sys
import threading
import time
from typing import Any, Callable

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket, ParseError as OscParseError

from app.action_table import ActionError
from app.errors import UserError
from app.params import Param, ParamError, Registry

PREFIX = "/hypnagogia"
USAGE = (f"send {PREFIX}/<parameter> VALUE, {PREFIX}/action/<name>, {PREFIX}/preset/<name> or "
         f"{PREFIX}/get/<parameter> (`hypnagogia params` lists the parameters)")
QUIET_SECONDS = 5.0          # the same complaint again within this is counted, not logged
BURST = 5                    # at most this many complaint lines per QUIET_SECONDS in all
LONGEST_LINE = 240
FLOAT32_MAX = 3.4028234663852886e38       # an OSC float has 32 bits


def osc_address(address: str) -> str:
    """The OSC address of a parameter address: ``occluder.x`` → ``/hypnagogia/occluder/x``."""
    return f"{PREFIX}/{address.replace('.', '/')}"


def osc_value(value: Any) -> int | float | str:
    """A parameter's value as an OSC argument: on/off as 1/0 (which every receiver reads), numbers
    as they are, choices as their names."""
    return int(value) if isinstance(value, bool) else value


def osc_message(address: str, value: int | float | str) -> OscMessage:
    """One OSC message of one argument; a float too large for OSC's 32 bits goes as the infinity it
    would round to (a diverging dream's error, say), never as an error in the loop."""
    if isinstance(value, float) and math.isfinite(value) and abs(value) > FLOAT32_MAX:
        value = math.copysign(math.inf, value)
    return build_msg(address, value)


class Complaints:
    """One line per problem, not one per message: the same ``key`` again within ``quiet`` seconds is
    counted instead of logged, and at most ``burst`` lines go out per ``quiet`` seconds in all, so a
    flood of bad messages cannot bury the log. The next line that goes out says how many were held."""

    def __init__(self, notify: Callable[[str], None], quiet: float = QUIET_SECONDS, burst: int = BURST,
                 clock: Callable[[], float] = time.monotonic):
        self._notify, self._quiet, self._burst, self._clock = notify, quiet, burst, clock
        self._said: dict[Any, float] = {}     # key → when it was last logged (at most ``burst`` keys)
        self._held = 0
        self._lock = threading.Lock()

    def __call__(self, key: Any, line: str) -> None:
        with self._lock:
            now = self._clock()
            self._said = {k: t for k, t in self._said.items() if now - t < self._quiet}
            if key in self._said or len(self._said) >= self._burst:
                self._held += 1
                return
            self._said[key] = now
            held, self._held = self._held, 0
        if len(line) > LONGEST_LINE:
            line = line[: LONGEST_LINE - 1] + "…"
        self._notify(line + (f" (and {held} more {'complaint' if held == 1 else 'complaints'} not shown)"
                             if held else ""))


class OscServer:
    """Listens for OSC on ``host:port`` in a daemon thread, for ``controllers``
    (``app.controllers.hub.Controllers``: its ``registry``, ``actions``, ``submit`` and ``host``).

    ``on_applied``, when set, is called as ``on_applied(address, value)`` in the loop's thread for
    each write from OSC once the registry holds it (``record`` logs the step it landed on)."""

    def __init__(self, controllers, host: str, port: int):
        self._controllers = controllers
        self._registry: Registry = controllers.registry
        self._complain = Complaints(controllers.host.notify)
        self.on_applied: Callable[[str, Any], None] | None = None
        self._unapplied: collections.Counter = collections.Counter()     # writes submitted, not yet applied
        self._unapplied_lock = threading.Lock()
        self._socket = _Listener(_resolve("--osc-in", host, port), self._datagram, self._failed)
        self._stop_listening = self._registry.listen(self._applied)
        self._thread = threading.Thread(target=self._socket.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"osc-in {host}:{port}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """The host and port the listener is bound to."""
        return self._socket.server_address[:2]

    def close(self) -> None:
        self._stop_listening()
        self._socket.shutdown()
        self._socket.server_close()

    # ---- in the listener's thread --------------------------------------------------------
    def _datagram(self, data: bytes, sender: tuple) -> list[OscMessage]:
        try:
            packet = OscPacket(data)
        except OscParseError:
            self._complain(("packet", sender[0]), f"osc: a packet from {sender[0]} is not OSC; {USAGE}")
            return []
        replies: list[OscMessage] = []
        for timed in packet.messages:
            replies += self._message(timed.message.address, list(timed.message.params))
        return replies

    def _failed(self, sender: tuple, error: BaseException) -> None:
        self._complain(("failed", type(error)), f"osc: a message from {sender[0]} was dropped: {error!r}")

    def _message(self, address: str, args: list) -> list[OscMessage]:
        if not address.startswith(PREFIX + "/"):
            self._complain(address, f"osc: {address} is not an address of hypnagogia; {USAGE}")
            return []
        path = address[len(PREFIX) + 1:]
        dotted = path.replace("/", ".")
        head, _, rest = path.partition("/")
        if self._names_parameter(dotted) or head not in ("action", "preset", "get"):
            self._write(address, dotted, args)
        elif head == "action":
            self._action(address, rest, args)
        elif head == "preset":
            self._preset(address, rest, args)
        else:
            return self._get(address, rest.replace("/", "."))
        return []

    def _names_parameter(self, dotted: str) -> bool:
        head, _, layer = dotted.rpartition(".")
        return dotted in self._registry or (head in self._registry and layer.isdigit())

    def _write(self, address: str, dotted: str, args: list) -> None:
        try:
            self._registry[dotted]                      # an unknown address, a layer out of range: ParamError
            param = self._registry.param(dotted if dotted in self._registry else dotted.rpartition(".")[0])
            if len(args) != 1:
                raise ParamError(f"{param.name} takes one value ({param.describe()}), got {len(args)}")
            value = param.coerce(_checked_type(param, args[0]))
        except ParamError as e:
            self._complain((address, "value"), _line(address, args, e))
            return
        if self.on_applied is not None:
            with self._unapplied_lock:
                self._unapplied[(dotted, value)] += 1
        self._controllers.submit(dotted, value, "osc")

    def _action(self, address: str, name: str, args: list) -> None:
        actions = self._controllers.actions
        try:
            action = actions.check(name)
            if len(args) > 1:
                raise ActionError(f"takes at most one argument, got {len(args)}")
            if not action.takes:
                if args and isinstance(args[0], str):
                    raise ActionError("takes no argument (a number fires it when it is not 0)")
                if args and not _pressed(args[0]):
                    return
                actions.request(name)
            else:
                actions.request(name, _text(args[0]) if args else None)
        except ActionError as e:
            self._complain((address, "action"), _line(address, args, e))

    def _preset(self, address: str, name: str, args: list) -> None:
        if not name:            # /hypnagogia/preset NAME
            if len(args) != 1 or not isinstance(args[0], (str, int, float)) or isinstance(args[0], bool):
                self._complain((address, "preset"), _line(address, args, f"takes one preset name or number, "
                                                                    f"or send {PREFIX}/preset/<name>"))
                return
            name = _text(args[0])
        elif args and not _pressed(args[0]):
            return
        actions = self._controllers.actions
        try:
            if name in ("next", "prev") and f"preset.{name}" in actions:
                actions.request(f"preset.{name}")
            else:
                actions.request("preset", name)
        except ActionError as e:
            self._complain((address, "preset"), _line(address, args, e))

    def _get(self, address: str, dotted: str) -> list[OscMessage]:
        if not dotted:
            return [osc_message(osc_address(a), osc_value(v)) for a, v in self._registry.snapshot().items()]
        try:
            value = self._registry[dotted]
        except ParamError as e:
            self._complain((address, "get"), _line(address, [], e))
            return []
        return [osc_message(osc_address(dotted), osc_value(value))]

    # ---- in the writer's thread ----------------------------------------------------------
    def _applied(self, address: str, value: Any) -> None:
        report = self.on_applied
        if report is None:
            return
        key = (address, value)
        with self._unapplied_lock:
            if not self._unapplied[key]:
                return                              # a write from elsewhere
            self._unapplied[key] -= 1
            if not self._unapplied[key]:
                del self._unapplied[key]
        report(address, value)


class OscSender:
    """Sends every change of ``registry`` and each frame's readouts as OSC to ``host:port``."""

    def __init__(self, registry: Registry, host: str, port: int, notify: Callable[[str], None] | None = None):
        family, self._target = _resolve("--osc-out", host, port)
        self._where = f"{host}:{port}"
        self._notify = notify or _to_stderr
        self._reported: set[int] = set()         # the errors already reported, by errno
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        if family == socket.AF_INET:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)   # a lighting rig's x.x.x.255
        self._stop_listening = registry.listen(self._changed)

    @property
    def target(self) -> str:
        """Where it sends, HOST:PORT."""
        return self._where

    def send_readouts(self, readouts: dict[str, Any]) -> None:
        """Each readout as ``/hypnagogia/readout/<name> VALUE``: numbers as floats, anything else as text."""
        for name, value in readouts.items():
            if value is None:
                continue
            value = float(value) if isinstance(value, numbers.Real) else str(value)
            self._send(osc_message(f"{PREFIX}/readout/{name.replace('.', '/')}", value))

    def close(self) -> None:
        self._stop_listening()
        self._socket.close()

    def _changed(self, address: str, value: Any) -> None:
        self._send(osc_message(osc_address(address), osc_value(value)))

    def _send(self, message: OscMessage) -> None:
        try:
            self._socket.sendto(message.dgram, self._target)
        except BlockingIOError:
            pass                                  # the network cannot take it now: UDP drops it, so do we
        except OSError as e:
            if e.errno not in self._reported:
                self._reported.add(e.errno)
                self._notify(f"osc out: cannot send to {self._where}: {e.strerror or e}; the dream goes on "
                             f"without it (check the address and the network)")


class _Listener(socketserver.UDPServer):
    """The listening socket: each datagram goes to ``receive(data, sender)``, whose replies go back to
    the sender; anything ``receive`` raises goes to ``failed(sender, error)``, never to a traceback."""

    allow_reuse_address = False       # with it two programs could bind one UDP port, and one would hear nothing
    RECEIVE_BUFFER = 4 << 20          # a controller's burst (a fader swept, a sequencer's bundle) waits here, not dropped

    def server_bind(self) -> None:
        with contextlib.suppress(OSError):          # the system may cap it; what it grants is what there is
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RECEIVE_BUFFER)
        super().server_bind()

    def __init__(self, address: tuple[int, tuple], receive: Callable[[bytes, tuple], list[OscMessage]],
                 failed: Callable[[tuple, BaseException], None]):
        family, sockaddr = address
        self.address_family = family
        self._receive, self._on_failure = receive, failed
        try:
            super().__init__(sockaddr, socketserver.BaseRequestHandler)
        except OSError as e:
            raise UserError(_bind_problem(sockaddr, e)) from None

    def finish_request(self, request, client_address) -> None:
        data, sock = request
        for reply in self._receive(data, client_address):
            try:
                sock.sendto(reply.dgram, client_address)
            except OSError:
                pass                      # the asker is gone: nothing to answer

    def handle_error(self, request, client_address) -> None:
        self._on_failure(client_address, sys.exc_info()[1])


def _resolve(option: str, host: str, port: int) -> tuple[int, tuple]:
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise UserError(f"{option} {host}:{port}: cannot find the host {host!r} ({reason}); give an IP address "
                        f"such as 127.0.0.1, or a host name this machine knows") from None
    return family, sockaddr


def _bind_problem(sockaddr: tuple, error: OSError) -> str:
    host, port = sockaddr[:2]
    where = f"--osc-in {host}:{port}"
    if error.errno == errno.EADDRINUSE:
        other = f", e.g. --osc-in {port + 1}" if port < 65535 else ""
        return f"{where}: port {port} is already in use by another program; choose another port{other}"
    if error.errno == errno.EADDRNOTAVAIL:
        return (f"{where}: {host} is not an address of this machine; listen on 127.0.0.1 (this machine only) "
                f"or 0.0.0.0 (every network)")
    if error.errno == errno.EACCES:
        return f"{where}: not allowed to listen on port {port}; choose a port from 1024 up, e.g. 9000"
    return f"{where}: cannot listen there: {error.strerror or error}"


def _checked_type(param: Param, value: Any) -> Any:
    """``value`` if its OSC type suits ``param`` (a number for a number, a string or number for a
    choice or switch); ParamError otherwise."""
    number = isinstance(value, (int, float))          # OSC i, f, d, and T/F (bool)
    if not (number if param.kind in ("float", "int") else number or isinstance(value, str)):
        raise ParamError(f"{param.name} expects {param.describe()}, got {_kind_of(value)}")
    return value


def _kind_of(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r} (send an OSC number)"
    if value is None:
        return "nil"
    if isinstance(value, bytes):
        return "a blob"
    return f"{type(value).__name__} {value!r}"


def _pressed(value: Any) -> bool:
    """A button's value: pressed unless it is a zero (its release)."""
    return not (isinstance(value, (int, float)) and value == 0)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _line(address: str, args: list, problem: Any) -> str:
    """The complaint about a message: the message as it came, then what is wrong with it."""
    shown = "".join(f" {a!r}" if isinstance(a, str) else f" {a}" for a in args)
    return f"osc: {address}{shown}: {problem}"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)
