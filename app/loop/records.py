"""What a step measured, on its way from the device to the host without stalling the loop."""

from __future__ import annotations

import math

import torch

IMAGE_CHANGE, TOP_CHANGE, ERROR = range(3)     # a step's values, as computed


class StepValues:
    """A step's values (a 3-vector where the model runs) on their way to the host: on a GPU copied
    without waiting, readable once the copy has finished."""

    def __init__(self, values: torch.Tensor):
        if values.is_cuda:
            self._host = torch.empty(values.shape, pin_memory=True)
            self._host.copy_(values, non_blocking=True)
            self._ready = torch.cuda.Event()
            self._ready.record()
        else:
            self._host, self._ready = values, None
        self._floats: list[float] | None = None

    @property
    def ready(self) -> bool:
        return self._floats is not None or self._ready is None or self._ready.query()

    def floats(self) -> list[float]:
        if self._floats is None:
            if self._ready is not None:
                self._ready.synchronize()
            self._floats = self._host.tolist()
        return self._floats


class StepRecord:
    """What one step measured: ``image_change`` (RMS of P_t − P_{t−1}), ``top_change`` (RMS of the top
    layer's S_t − S_{t−1}), ``error`` (RMS of x_t − P_t) and whether every value stayed finite (a NaN or
    inf anywhere reaches the prediction, decoded from layer 1, or the top layer within a step, and
    from there these RMS values).

    The values are computed where the model runs. The top layer's change is known once the step's
    mix is adopted, which the next step does; on a GPU the values then come back without waiting.
    Reading one before that makes the engine collect the mix and waits for this step alone, so a
    loop that never reads them never stalls on them."""

    def __init__(self, step: int, own: StepValues, collect_mix):
        self.step = step
        self._own, self._top, self._collect_mix = own, None, collect_mix
        self._floats = None

    def complete(self, next_values: StepValues) -> None:
        """The values of the step that adopted this step's mix (its top change and finiteness)."""
        self._top = next_values

    @property
    def done(self) -> bool:
        """Whether the values can be read without waiting."""
        return self._floats is not None or (self._top is not None and self._own.ready and self._top.ready)

    def _read(self) -> list[float]:
        if self._floats is None:
            if self._top is None:
                self._collect_mix()
            own, top = self._own.floats(), self._top.floats()
            values = [own[IMAGE_CHANGE], top[TOP_CHANGE], own[ERROR]]
            self._floats = [*values, float(all(math.isfinite(v) for v in values))]
        return self._floats

    # the step's own values need no later step (a PVM's sleep reads the last change inside a step)
    image_change = property(lambda self: self._own.floats()[IMAGE_CHANGE])
    top_change = property(lambda self: self._read()[1])
    error = property(lambda self: self._own.floats()[ERROR])
    finite = property(lambda self: self._read()[3] > 0)


def latest_readouts(history) -> dict:
    """What the newest step whose values are already on the host measured (a loop never waits for
    them): its step, image change, top layer change and prediction error; {} before the first."""
    for record in reversed(history):
        if record.done:
            return {"step": record.step, "change": record.image_change, "top_change": record.top_change,
                    "error": record.error}
    return {}
