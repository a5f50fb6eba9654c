"""The loop's output tail, once for every caller (``record``, ``bench``, the window): the view
rendered into an offscreen target of its own, read back through the pixel-pack ring without
waiting for the GPU, and handed to sinks (app.outputs.sinks).

``ViewOutput`` is one target and ring; ``Outputs`` keeps one per (view, size) for an engine, made
when a sink first asks for it and released when its last sink has gone, so that the window's
recording at --record-size and a screenshot at the view's natural size run side by side.
"""

from __future__ import annotations

import collections
import contextlib
import time
from typing import TYPE_CHECKING, Callable

import moderngl
import numpy as np

from app.gl.output import OffscreenTarget
from app.gl.readback import PixelReadback
from app.gl.views import Views
from app.loop.timing import StageTimer
from app.outputs.sinks import Sink

if TYPE_CHECKING:
    from app.loop.engine import Engine

READBACK_DEPTH = 3     # read frame N, map frame N - 2


class ViewOutput:
    """``draw(fbo)`` rendered at ``size`` for the sinks that want the frame, read back ``depth - 1``
    ticks later and written to them.

    A tick (``show``) asks every sink how many copies it wants; if none does, nothing is rendered.
    Sinks come and go between ticks: one added receives the frames it accepts from then on; one
    removed first receives the frames it accepted that are still in flight. ``timer`` (the engine's
    StageTimer, for the bench) times the stages "views", "readback" and "encode" (the sinks' writes).
    """

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], draw: Callable[[moderngl.Framebuffer], None],
                 *, view: str | None = None, timer: StageTimer | None = None, depth: int = READBACK_DEPTH):
        self.view = view          # what ``draw`` shows, for the reader
        self.size = tuple(size)
        self.draw = draw
        self.target = OffscreenTarget(ctx, *self.size)
        self.readback = PixelReadback(ctx, *self.size, depth=depth)
        self._timer = timer
        self._sinks: list[Sink] = []
        self._in_flight: collections.deque[list[tuple[Sink, int]]] = collections.deque()  # per frame, oldest first

    @property
    def sinks(self) -> tuple[Sink, ...]:
        return tuple(self._sinks)

    @property
    def idle(self) -> bool:
        """No sinks and nothing in flight: nothing more will come out of it."""
        return not self._sinks and not self._in_flight

    def add(self, sink: Sink) -> None:
        if sink in self._sinks:
            raise ValueError(f"{sink.name} is already a sink of this output")
        self._sinks.append(sink)

    def remove(self, sink: Sink) -> str:
        """Writes the frames ``sink`` accepted that are still in flight (a stall of one readback),
        detaches it and closes it; returns its summary."""
        if any(s is sink for frame in self._in_flight for s, _ in frame):
            self.drain()
        self._sinks.remove(sink)
        return sink.close()

    def render(self) -> None:
        """The view into the target, whether or not a sink wants it (the bench without --record)."""
        with self._stage("views"):
            self.draw(self.target.fbo)

    def show(self, now: float | None = None) -> list[tuple[Sink, str]]:
        """One tick: renders and submits the frame if any sink wants it and writes the frame that
        leaves the ring. Returns the sinks that finished (``done``, all their frames written), closed
        and detached, with their summaries."""
        now = time.monotonic() if now is None else now
        wanted = [(sink, n) for sink in self._sinks if (n := sink.accepts(now)) > 0]
        if wanted:
            self.render()
            with self._stage("readback"):
                pixels = self.readback.submit(self.target)
            self._in_flight.append(wanted)
            if pixels is not None:
                with self._stage("encode"):
                    self._deliver(pixels)
        elif self._in_flight and all(sink.done for sink in self._sinks):
            # no later frame will push these out of the ring; submitted a tick ago, they are ready
            self.drain()
        return self._finish_done()

    def drain(self) -> None:
        """Writes every frame still in flight to the sinks that accepted it."""
        for pixels in self.readback.drain():
            self._deliver(pixels)

    def close(self) -> list[tuple[Sink, str]]:
        """Drains, closes every sink, releases the GL objects; returns the sinks with their summaries.
        A sink whose close raises does not keep the others open: the first such error is raised
        after they are all closed."""
        try:
            self.drain()
        finally:
            closed, failure = [], None
            while self._sinks:
                sink = self._sinks.pop(0)
                try:
                    closed.append((sink, sink.close()))
                except Exception as e:      # noqa: BLE001 - re-raised below
                    failure = failure or e
            self._in_flight.clear()
            self.release()
        if failure is not None:
            raise failure
        return closed

    def release(self) -> None:
        self.readback.release()
        self.target.release()

    def _deliver(self, pixels: np.ndarray) -> None:
        pixels.flags.writeable = False       # shared by the sinks
        for sink, copies in self._in_flight.popleft():
            for _ in range(copies):
                sink.write(pixels)

    def _finish_done(self) -> list[tuple[Sink, str]]:
        waiting = {id(s) for frame in self._in_flight for s, _ in frame}
        finished = [sink for sink in self._sinks if sink.done and id(sink) not in waiting]
        for sink in finished:
            self._sinks.remove(sink)
        return [(sink, sink.close()) for sink in finished]

    def _stage(self, name: str):
        return contextlib.nullcontext() if self._timer is None else self._timer(name)


def view_output(engine: Engine, view: str, size: tuple[int, int], *, views: Views | None = None,
                timer: StageTimer | None = None, depth: int = READBACK_DEPTH) -> ViewOutput:
    """A ViewOutput of ``engine``'s current frame shown as ``view`` (Views.render, with the
    registry's error_gain at each tick); ``view`` None follows the registry's view (a live sender)."""
    views = views or Views(engine.ctx)

    def draw(fbo: moderngl.Framebuffer) -> None:
        views.render(engine.frame(), view or engine.registry["view"], fbo, engine.registry["error_gain"])

    return ViewOutput(engine.ctx, size, draw, view=view, timer=timer, depth=depth)


class Outputs:
    """The view outputs of one engine, one per (view, size), each made when a sink first needs it
    and released once its last sink has gone and its frames are out."""

    def __init__(self, engine: Engine, views: Views | None = None, timer: StageTimer | None = None):
        self.engine = engine
        self.views = views or Views(engine.ctx)
        self.timer = timer
        self._outputs: dict[tuple[str, tuple[int, int]], ViewOutput] = {}

    @property
    def sinks(self) -> list[Sink]:
        return [sink for output in self._outputs.values() for sink in output.sinks]

    def output(self, view: str, size: tuple[int, int]) -> ViewOutput | None:
        return self._outputs.get((view, tuple(size)))

    def add(self, sink: Sink, view: str, size: tuple[int, int]) -> ViewOutput:
        key = (view, tuple(size))
        if key not in self._outputs:
            self._outputs[key] = view_output(self.engine, view, key[1], views=self.views, timer=self.timer)
        self._outputs[key].add(sink)
        return self._outputs[key]

    def remove(self, sink: Sink) -> str:
        """As ViewOutput.remove, for whichever output ``sink`` is on."""
        output = next((o for o in self._outputs.values() if sink in o.sinks), None)
        if output is None:
            raise ValueError(f"{sink.name} is not a sink of these outputs")
        try:
            return output.remove(sink)
        finally:
            self._release_idle()

    def show(self, now: float | None = None) -> list[tuple[Sink, str]]:
        now = time.monotonic() if now is None else now
        finished = []
        for output in list(self._outputs.values()):
            finished += output.show(now)
        self._release_idle()
        return finished

    def close(self) -> list[tuple[Sink, str]]:
        """Every output drained and released, every sink closed, with its summary."""
        closed, failure = [], None
        outputs, self._outputs = list(self._outputs.values()), {}
        for output in outputs:
            try:
                closed += output.close()
            except Exception as e:      # noqa: BLE001 - re-raised below
                failure = failure or e
        if failure is not None:
            raise failure
        return closed

    def _release_idle(self) -> None:
        for key, output in list(self._outputs.items()):
            if output.idle:
                output.release()
                del self._outputs[key]
