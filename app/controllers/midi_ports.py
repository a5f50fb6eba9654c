"""MIDI ports: the computer's (python-rtmidi) and mido's network ports over TCP; messages are mido's.

A network port is named ``HOST:PORT`` and connects to a ``mido.sockets.PortServer`` there: raw MIDI
bytes both ways, the protocol of ``mido.sockets``. It connects, reads and writes without ever
blocking the loop, and connects again, every second, when the server goes away.

Failures never raise out of here as tracebacks: each becomes one line for the user.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import select
import socket
import sys
from typing import Callable

import mido
import mido.sockets

try:
    import rtmidi
    _RTMIDI_ERRORS: tuple = (rtmidi.RtMidiError, OSError, RuntimeError)
    _RTMIDI_MISSING = ""
except ImportError as e:                 # python-rtmidi, or the system library it needs, is missing
    rtmidi, _RTMIDI_ERRORS, _RTMIDI_MISSING = None, (), f"python-rtmidi does not load ({e})"

CLIENT_NAME = "hypnagogia"
PORT_NAMES = ("hypnagogia in", "hypnagogia feedback")      # the ports this program opens
NO_SYSTEM_HINT = "(Linux: the ALSA sequencer, snd-seq, must be loaded)"
RETRY_S = 1.0                   # between attempts to reach a network port
CONNECT_TIMEOUT_S = 3.0
MAX_UNSENT = 64 * 1024          # bytes waiting for a network port that does not read, before they are dropped
_NETWORK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*:\d+$")
_ALSA_NUMBERS = re.compile(r"\s+\d+:\d+$")


class MidiPortError(Exception):
    """A port that cannot be opened; the message is the one line to show."""


def is_network_name(name: str) -> bool:
    return bool(_NETWORK_NAME.match(name.strip()))


def stable_name(name: str) -> str:
    """A system port's name without ALSA's client:port numbers, which change when a device is plugged
    in again (what the settings keep)."""
    return _ALSA_NUMBERS.sub("", name)


def find_port(wanted: str, names: list[str]) -> str | None:
    """The first of ``names`` that is ``wanted`` or contains it (case-insensitive)."""
    if wanted in names:
        return wanted
    low = wanted.lower()
    return next((n for n in names if low in n.lower()), None)


# ALSA prints its own error to stderr each time the sequencer cannot be opened; the reason already
# reaches the user as one line, so its printer is silenced around the calls that open a client.
_ALSA_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.c_char_p)(lambda *_: None)


@contextlib.contextmanager
def _alsa_quiet():
    library = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            library = ctypes.CDLL("libasound.so.2")
            library.snd_lib_error_set_handler(_ALSA_HANDLER)
    try:
        yield
    finally:
        if library is not None:
            library.snd_lib_error_set_handler(None)


class SystemPorts:
    """The computer's MIDI ports. Their names are read from two clients kept open (cheap to poll for
    hot-plugged devices); ``problem`` says why there are none when there is no MIDI system. The ports
    this program opens are left out of the lists (ALSA lists them too), so that feedback cannot be
    looped back into its own input."""

    def __init__(self):
        self.problem = ""
        self._probes: list = []          # a MidiIn and a MidiOut that only list the ports

    def names(self) -> tuple[list[str], list[str]]:
        """The input and the output port names now (empty, with ``problem`` set, without a MIDI system)."""
        if rtmidi is None:
            self.problem = f"no MIDI system: {_RTMIDI_MISSING}"
            return [], []
        try:
            if not self._probes:
                with _alsa_quiet():
                    self._probes.append(rtmidi.MidiIn(name=CLIENT_NAME))
                    self._probes.append(rtmidi.MidiOut(name=CLIENT_NAME))
            names = [[n for n in probe.get_ports() if not _ours(n)] for probe in self._probes]
        except _RTMIDI_ERRORS as e:
            self._drop_probes()
            self.problem = f"no MIDI system: {str(e).rstrip('.')} {NO_SYSTEM_HINT}"
            return [], []
        self.problem = ""
        return names[0], names[1]

    def open_input(self, name: str, callback: Callable[[mido.Message], None]) -> SystemInput:
        """The input port ``name`` (exact), calling ``callback`` on rtmidi's thread for each message."""
        return SystemInput(name, callback)

    def open_output(self, name: str) -> SystemOutput:
        return SystemOutput(name)

    def _drop_probes(self) -> None:
        for probe in self._probes:
            with contextlib.suppress(*_RTMIDI_ERRORS):
                probe.delete()
        self._probes = []

    def close(self) -> None:
        self._drop_probes()


def _ours(name: str) -> bool:
    return name.partition(":")[2].startswith(PORT_NAMES)


def _open_rtmidi(kind: str, name: str, port_name: str):
    """A python-rtmidi MidiIn or MidiOut connected to the port ``name``; raises MidiPortError."""
    if rtmidi is None:
        raise MidiPortError(f"cannot open MIDI port {name!r}: {_RTMIDI_MISSING}")
    try:
        with _alsa_quiet():
            client = getattr(rtmidi, kind)(name=CLIENT_NAME)
        try:
            ports = client.get_ports()
            if name not in ports:
                raise MidiPortError(f"MIDI port {name!r} went away")
            client.open_port(ports.index(name), port_name)
        except BaseException:
            client.delete()
            raise
        return client
    except _RTMIDI_ERRORS as e:
        raise MidiPortError(f"cannot open MIDI port {name!r}: {str(e).rstrip('.')}") from None


class SystemInput:
    def __init__(self, name: str, callback: Callable[[mido.Message], None]):
        self.name = name
        self._callback = callback
        self._client = _open_rtmidi("MidiIn", name, PORT_NAMES[0])
        self._client.ignore_types(sysex=True, timing=False, active_sense=True)     # the clock is wanted
        self._client.set_callback(self._arrived)

    def _arrived(self, event, _data) -> None:
        try:
            message = mido.Message.from_bytes(event[0])
        except ValueError:
            return                                   # not a complete MIDI message
        self._callback(message)

    def close(self) -> None:
        with contextlib.suppress(*_RTMIDI_ERRORS):
            self._client.cancel_callback()
            self._client.close_port()
            self._client.delete()


class SystemOutput:
    def __init__(self, name: str):
        self.name = name
        self._client = _open_rtmidi("MidiOut", name, PORT_NAMES[1])

    def send(self, message: mido.Message) -> None:
        try:
            self._client.send_message(message.bytes())
        except _RTMIDI_ERRORS as e:
            raise MidiPortError(f"MIDI out {self.name}: {e}") from None

    def close(self) -> None:
        with contextlib.suppress(*_RTMIDI_ERRORS):
            self._client.close_port()
            self._client.delete()


class NetworkPort:
    """A connection to a mido ``PortServer`` at ``HOST:PORT``. ``poll(now)`` (``now``: a monotonic
    clock) connects, reads what arrived and writes what waits, without blocking; ``notify`` gets one
    line when the connection is made, refused or lost (not again for each failed retry)."""

    def __init__(self, address: str, role: str, notify: Callable[[str], None]):
        self.name = address.strip()
        self.role = role                      # "MIDI in" or "MIDI out", for the lines
        self._notify = notify
        try:
            host, port = mido.sockets.parse_address(self.name)
            family, kind, proto, _, target = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        except ValueError as e:
            raise MidiPortError(f"{role} {self.name!r}: {e} (a network port is HOST:PORT)") from None
        except OSError as e:
            raise MidiPortError(f"{role} {self.name!r}: unknown host ({e.strerror or e})") from None
        self._family, self._target = (family, kind, proto), target
        self._parser = mido.Parser()
        self._socket: socket.socket | None = None
        self._connecting_until = 0.0
        self._retry_at = 0.0
        self._unsent = bytearray()
        self._failing = False                # the last attempt failed and the user was told
        self.connected = False

    def poll(self, now: float) -> list[mido.Message]:
        if self._socket is None:
            if now >= self._retry_at:
                self._connect(now)
            return []
        if not self.connected:
            self._finish_connect(now)
            if not self.connected:
                return []
        self._flush(now)
        return self._read(now)

    def send(self, message: mido.Message, now: float) -> None:
        """Queue ``message`` and write what the socket takes now (dropped while not connected: the
        user was told the connection is down)."""
        if not self.connected:
            return
        self._unsent += message.bin()
        if len(self._unsent) > MAX_UNSENT:
            self._unsent.clear()
            self._notify(f"{self.role} {self.name}: the other end does not read; messages dropped")
        self._flush(now)

    def _connect(self, now: float) -> None:
        sock = socket.socket(*self._family)
        sock.setblocking(False)
        code = sock.connect_ex(self._target)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, getattr(errno, "WSAEWOULDBLOCK", -1)):
            sock.close()
            self._fail(now, _reason(code))
            return
        self._socket, self._connecting_until = sock, now + CONNECT_TIMEOUT_S

    def _finish_connect(self, now: float) -> None:
        _, writable, failed = select.select([], [self._socket], [self._socket], 0)
        if writable or failed:
            code = self._socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._fail(now, _reason(code))
                return
            self.connected = True
            self._parser = mido.Parser()
            self._notify(f"{self.role} {self.name}: connected" + (" again" if self._failing else ""))
            self._failing = False
        elif now > self._connecting_until:
            self._fail(now, "no answer")

    def _read(self, now: float) -> list[mido.Message]:
        while True:
            try:
                data = self._socket.recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                self._fail(now, e.strerror or str(e))
                break
            if not data:
                self._fail(now, "the connection closed")
                break
            self._parser.feed(data)
        messages = []
        while self._parser.pending():
            messages.append(self._parser.get_message())
        return messages

    def _flush(self, now: float) -> None:
        if not self._unsent or self._socket is None:
            return
        try:
            sent = self._socket.send(self._unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(now, e.strerror or str(e))
            return
        del self._unsent[:sent]

    def _fail(self, now: float, reason: str) -> None:
        self._close_socket()
        self._retry_at = now + RETRY_S
        if not self._failing:
            self._failing = True
            self._notify(f"{self.role} {self.name}: {reason}; trying again every second")

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket, self.connected = None, False
        self._unsent.clear()

    def close(self) -> None:
        self._close_socket()


def _reason(code: int) -> str:
    if code == errno.ECONNREFUSED:
        return "nothing listens there (connection refused)"
    return os.strerror(code)
