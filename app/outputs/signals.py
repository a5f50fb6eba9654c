"""SIGINT, SIGTERM and SIGHUP as the graceful end of the commands that record (``record``, the
window), at any moment from their first one: never a traceback, never a lost frame.

``main()`` installs ``handled`` before anything else. From then on a stop signal is recorded in
a ``StopRequest``, not raised wherever Python happens to be: raised inside an import that torch's
C++ runs, an exception aborts the whole process. Start-up ``check()``s the request between its
stages and ends in one line; a recording loop reads it between steps, so every frame in flight
reaches the file; a wait that could last for ever (a pipe whose writer sends nothing:
``app.sources.video``'s ``_wait``) ends at once with ``Interrupted``; a second signal raises
``Interrupted`` wherever the program is.

A SIGINT ignored by inheritance (a command started with ``&`` from a script or a shell without job
control inherits SIG_IGN) is caught again; a SIGTERM or SIGHUP ignored by inheritance (``nohup``)
stays ignored. Only the main thread takes signals.
"""

from __future__ import annotations

import contextlib
import signal
import threading

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
# Where a stop signal may raise at once: functions that only wait, in pure Python, called from
# pure Python; (module, function name) of the function or of one of its callers a few frames up.
INTERRUPTIBLE_WAITS = frozenset({("app.sources.video", "_wait")})
WAIT_DEPTH = 4


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(KeyboardInterrupt):
    """A stop signal, raised; ``exit_status`` is the shell's 128 + signal."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal_name(signum))
        self.signum = signum

    @property
    def name(self) -> str:
        return signal_name(self.signum)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def describe(interrupt: KeyboardInterrupt) -> tuple[str, int]:
    """(signal name, exit status) of a KeyboardInterrupt: Interrupted's own, else Python's SIGINT."""
    if isinstance(interrupt, Interrupted):
        return interrupt.name, interrupt.exit_status
    return "SIGINT", 128 + signal.SIGINT


class StopRequest:
    """The first stop signal received, if any."""

    def __init__(self):
        self._event = threading.Event()
        self.signum: int | None = None
        self.received = 0

    def set(self, signum: int = signal.SIGINT) -> None:
        if self.signum is None:
            self.signum = signum
        self.received += 1
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raises Interrupted if a stop signal came: for the points between start-up stages."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    @property
    def name(self) -> str:
        return signal_name(self.signum or signal.SIGINT)

    @property
    def exit_status(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


_current: StopRequest | None = None


def current() -> StopRequest:
    """The StopRequest ``handled`` installed; outside it (a test calling a command), one that no
    signal sets."""
    return _current if _current is not None else StopRequest()


def _in_interruptible_wait(frame) -> bool:
    for _ in range(WAIT_DEPTH):
        if frame is None:
            return False
        if (frame.f_globals.get("__name__"), frame.f_code.co_name) in INTERRUPTIBLE_WAITS:
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def handled(*, catch_ignored_sigint: bool = True):
    """Within: stop signals go to the StopRequest this yields, as described above. The previous
    handlers come back after (main() runs in tests, in-process)."""
    global _current
    stop = StopRequest()

    def on_signal(signum, frame):
        stop.set(signum)
        if stop.received > 1 or _in_interruptible_wait(frame):
            raise Interrupted(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            inherited = signal.getsignal(signum)
            if inherited is signal.SIG_IGN and not (catch_ignored_sigint and signum == signal.SIGINT):
                continue
            previous[signum] = signal.signal(signum, on_signal)
    outer, _current = _current, stop
    try:
        yield stop
    finally:
        _current = outer
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
