"""One step of the dreaming loop, with no window and no UI.

    composite (GLSL) → input x → drives (torch) → mix (GLSL) → new layer states
                                        └──────→ prediction P → next step's composite

The prediction P_t is decoded from layer 1's state *before* it sees x_t, so x_t − P_t is a true
prediction error. Every controller writes the registry; ``step`` only reads it. The engine runs any
model kind through ``app.models.base.DreamingModel`` and its ``Capabilities``.

Of the ``steps_per_frame`` steps of a shown frame, those before the shown one skip GL where nothing
between them needs it (``Engine.needs_no_gl``): a model that offers ``inner_steps`` takes them on the
device from the source frames as they are, and only the shown step goes round the composite, the mix
and the views. The step index counts every step; the history holds the shown steps' records, whose
values are those of a step after the one before (as when every step goes through GL).
"""

from __future__ import annotations

import collections
import math
import time
from typing import NamedTuple

import moderngl
import numpy as np
import torch

from app.errors import UserError
from app.gl.atlas import AtlasLayout
from app.gl.composite import CompositePass
from app.gl.mixer import Mixer, RuleSet
from app.gl.transfer import TORCH_DTYPES
from app.gl.transfer_choice import pick_transfer
from app.gl.views import Frame
from app.loop.device import PRECISIONS, TEXTURE_FORMATS
from app.loop.drives import Fatigue, Wander, apply as modify_drives
from app.loop.graph import GraphedFunction
from app.loop.objective import target_of, toward
from app.loop.grid import grid_rows, layer_stats
from app.loop.records import StepRecord, StepValues
from app.loop.timing import StageTimer
from app.models.base import StepContext
from app.models.checkpoint import LoadedModel
from app.params import Registry
from app.sources import Source
from app.sources.fit import fit_square


BLINK_PERIOD, BLINK_LENGTH = 20, 2   # blinks: 2 of every 20 steps see the prediction
GRAY = 128                           # the composite's source before the first frame (app.gl.composite)


class StepTensors(NamedTuple):
    """What the torch side of a step makes."""
    states: list[torch.Tensor]          # the layers' states it started from (the last mix, adopted)
    drives: object
    up: torch.Tensor                    # bottom-up drives as an atlas
    down: torch.Tensor                  # top-down drives as an atlas
    prediction: torch.Tensor            # (S, S, 4): P_{t+1}, fed back at the next step
    seen: torch.Tensor                  # (S, S, 4): the prediction of this step's input (views)
    values: torch.Tensor                # IMAGE_CHANGE, TOP_CHANGE, ERROR


def _rms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The RMS of a − b, in float32, in few kernels (the step runs it thrice)."""
    return torch.linalg.vector_norm(a - b, dtype=torch.float32) / math.sqrt(a.numel())


def _rgba(image: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(H, W, 3) → (H, W, 4) of ``dtype`` with alpha 0: the layout of the image textures."""
    return torch.nn.functional.pad(image.to(dtype), (0, 1))


class Engine:
    def __init__(self, ctx: moderngl.Context, registry: Registry, model: LoadedModel, source: Source,
                 size: int, device: torch.device | str = "cpu", rules: RuleSet | None = None,
                 seed: int = 0, sync_timing: bool = False, history: int = 600, precision: str = "fp32"):
        torch.set_flush_denormal(True)  # see app.commands.main.main: worker threads started before this keep denormals
        self.ctx = ctx
        self.registry = registry
        self.size = size
        self.device = torch.device(device)
        if precision != "fp32" and self.device.type == "cpu":
            raise UserError(f"--precision {precision} needs a GPU (torch runs on the CPU here); use fp32")
        self.dtype = PRECISIONS[precision]
        self.texture_format = TEXTURE_FORMATS[precision]
        self.texture_dtype = TORCH_DTYPES[self.texture_format]
        self.rules = rules or RuleSet(ctx, registry)
        self.transfer, self.transfer_path = pick_transfer(ctx, self.device)
        self._unchecked: collections.deque[StepRecord] = collections.deque()
        self._states: list[torch.Tensor] = []
        self._mix_pending = False             # the last step's mix is rendered but not yet read back
        self._pending_record: StepRecord | None = None
        self.steps_inside = 0                 # steps taken on the device alone (``needs_no_gl``)
        self.generator = torch.Generator().manual_seed(seed)
        self.fatigue = Fatigue()
        self.wander = Wander()
        self.timer = StageTimer(sync=self._sync if sync_timing else None)
        self.history: collections.deque[StepRecord] = collections.deque(maxlen=history)
        self.step_index = 0
        self.message = ""
        self.source = source
        self.source_frame: np.ndarray | None = None
        self.composite = CompositePass(ctx, size, self.texture_format)
        self.prediction = self._image_texture()          # fed back at the next step
        self.seen_prediction = self._image_texture()     # the prediction of the current input (views)
        self.loaded: LoadedModel | None = None
        self.mixer: Mixer | None = None
        self.set_model(model)

    # ---- configuration -------------------------------------------------------------------
    def set_model(self, loaded: LoadedModel, size: int | None = None) -> None:
        """Run ``loaded`` from now on, at ``size`` (default: the current size; a model that reads one
        size runs at it). Textures are made anew where the size changes; the source, a held frame
        and the registry carry on."""
        stack = loaded.runtime()
        capabilities = stack.capabilities
        size = capabilities.fixed_size or size or self.size
        if not capabilities.suits(size):
            raise UserError(f"size {size} does not suit model {loaded.name}: it {capabilities.size_rule()}")
        self._collect_mix()                   # completes the old model's last record
        self._mix_pending = False
        stack = stack.placed(self.device, capabilities.compute_dtype or self.dtype)
        self._resize(size)
        self.loaded = loaded
        self.stack = stack
        self.capabilities = capabilities
        self.layout = AtlasLayout(stack.layer_shapes(self.size))
        if self.mixer is not None:
            self._release_textures(*self.mixer.textures)
            self.mixer.release()
        self.mixer = Mixer(self.ctx, self.rules, self.layout, self.texture_format)
        self._graph = None
        # carried from step to step by the step itself (inside its CUDA graph where it has one)
        self._top_before = torch.zeros((1, *stack.layer_shapes(self.size)[-1]), device=self.device)
        self._last_prediction = torch.zeros((self.size, self.size, 3), device=self.device)
        self._last_inputs = None
        self.reset()

    def _resize(self, size: int) -> None:
        if size == self.size:
            return
        self.size = size
        self._release_textures(self.composite.output, self.prediction, self.seen_prediction)
        self.composite.release()
        self.composite = CompositePass(self.ctx, size, self.texture_format)
        for tex in (self.prediction, self.seen_prediction):
            tex.release()
        self.prediction, self.seen_prediction = self._image_texture(), self._image_texture()
        if self.source_frame is not None:          # a held frame is held at the new size too
            self.source_frame = fit_square(self.source_frame, size)
            self.composite.set_source(self.source_frame)

    def _release_textures(self, *textures: moderngl.Texture) -> None:
        for tex in textures:
            self.transfer.forget(tex)

    def _image_texture(self) -> moderngl.Texture:
        tex = self.ctx.texture((self.size, self.size), 4, dtype=self.texture_format)  # 4: CUDA maps no RGB
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        tex.repeat_x = tex.repeat_y = False
        return tex

    def set_source(self, source: Source) -> None:
        old, self.source = self.source, source
        if old is not None and old is not source:
            old.close()

    @property
    def model(self):
        """The ``DreamingModel`` the loop runs."""
        return self.stack

    @property
    def n_layers(self) -> int:
        return len(self.layout.bands)

    # ---- state ---------------------------------------------------------------------------
    @property
    def states(self) -> list[torch.Tensor]:
        """Every layer's state, (1, C, H, W) tensors: the output of the last step's mix. The next step
        may reuse their memory: copy what must outlive it."""
        self._collect_mix()
        return [s.float() for s in self._states]

    @states.setter
    def states(self, states: list[torch.Tensor]) -> None:
        self._collect_mix()                  # completes the last step's record first
        self._states = states
        self._top_before.copy_(states[-1])

    def _collect_mix(self) -> None:
        """Adopt the last step's mix if the next step has not (on its own, outside a step)."""
        if not self._mix_pending:
            return
        with self.transfer.mapped(read=[self.mixer.state]) as m, torch.inference_mode():
            states = self.layout.unpack(m.view(self.mixer.state).to(self.device))
            top = states[-1]
            zero = torch.zeros((), device=self.device)
            values = torch.stack([zero, _rms(top, self._top_before), zero])
            self._top_before.copy_(top)
        self._states = states
        self._adopted(StepValues(values))
        self._reset_if_diverged()

    def _adopted(self, values: StepValues) -> None:
        """The last step's mix is the layers' state now; its record gets the top layer's change."""
        if self._pending_record is not None:
            self._pending_record.complete(values)
        self._mix_pending = False
        self._pending_record = None

    def reset(self) -> None:
        """Every layer and the prediction to fresh noise."""
        self.states = self.model.noise_states(self.size, self.generator, self.device)
        atlas = self.layout.pack(self._states)
        prediction = torch.rand((self.size, self.size, 3), generator=self.generator).to(self.device)
        self._last_prediction.copy_(prediction)
        self.transfer.upload_many([*((tex, atlas) for tex in self.mixer.states), (self.prediction, prediction),
                                   (self.seen_prediction, prediction)])
        self._drives = None
        self.fatigue.reset()
        self.wander.reset()
        self.history.clear()
        self._unchecked.clear()

    def load_states(self, states: list[torch.Tensor], prediction: torch.Tensor | None = None) -> None:
        """Put the loop in a given state (e.g. a saved attractor)."""
        expected = [(1, *shape) for shape in self.model.layer_shapes(self.size)]
        if [tuple(s.shape) for s in states] != expected:
            raise UserError(f"saved state has layers {[tuple(s.shape) for s in states]} but {self.loaded.name} "
                            f"at {self.size}px needs {expected}; load it with the model and size it was saved from")
        self.states = [s.to(self.device).contiguous(memory_format=torch.channels_last) for s in states]
        self.transfer.upload(self.mixer.state, self.layout.pack(self._states))
        if prediction is not None:
            self._last_prediction.copy_(prediction)
            self.transfer.upload(self.prediction, self._last_prediction)

    @property
    def mix_pending(self) -> bool:
        """The last step's mix is rendered but not yet read back (reading a record's top change, or the
        states, collects it)."""
        return self._mix_pending

    @property
    def graphed(self) -> bool:
        """The step's torch side replays as a CUDA graph."""
        return self._graph is not None

    @property
    def last_prediction(self) -> torch.Tensor:
        """The latest prediction as an (S, S, 3) CPU tensor in [0, 1]."""
        return self._last_prediction.to("cpu")

    def snapshot(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Copies of every layer's state and of the last prediction, on the CPU."""
        return [s.detach().to("cpu").clone() for s in self.states], self.last_prediction.clone()

    # ---- the step ------------------------------------------------------------------------
    def advance(self) -> StepRecord:
        """One displayed or recorded frame: ``steps_per_frame`` steps, those before the shown one on the
        device alone where nothing between them needs GL (``needs_no_gl``)."""
        inner = self.registry["steps_per_frame"] - 1
        if inner and self.needs_no_gl():
            self._steps_inside(inner)
        else:
            for _ in range(inner):
                self.step()
        return self.step()

    def needs_no_gl(self) -> bool:
        """Whether a step may skip GL: its composite is the source unchanged (no dream, blink, input noise
        or occluder), the mixing rule hands every layer its bottom-up drive, nothing acts on the input or
        the code (the objective, inertia, latent noise), and the model takes such steps
        (``Capabilities.inner_steps``) at its own settings."""
        p = self.registry
        return (self.capabilities.inner_steps and p["dream"] == 0 and not p["blink"] and p["input_noise"] == 0
                and p["occluder.mode"] == "off" and p["objective.strength"] == 0 and p["inertia"] == 0
                and p["latent_noise"] == 0 and self.rules.passes_through(self.n_layers)
                and self.stack.takes_inner_steps(self._context(mixed=False)))

    def _context(self, mixed: bool) -> StepContext:
        return StepContext(self.registry, mixed=mixed, last_image_change=self._last_image_change)

    def _next_frame(self) -> np.ndarray | None:
        """The source's next frame at the loop's size; None where it has none new or freeze holds one."""
        held = self.registry["freeze"] and self.source_frame is not None   # freeze holds a frame once there is one
        frame = None if held else self.source.read()
        if frame is not None and (frame.shape[0] != self.size or frame.shape[1] != self.size):
            frame = fit_square(frame, self.size)      # a source opened for another size
        return frame

    def _steps_inside(self, n: int) -> None:
        """``n`` steps by the model's ``inner_steps``, each from its own source frame as the composite would
        show it; the layers' states, the last prediction and the top layer's state carried on as the
        mix and the step would leave them, so that the next step goes on from there."""
        with self.timer("inner steps"):
            self._reset_if_diverged()
            self._collect_mix()                 # the last step's record gets its top change, as from a next step
            frames, new = [], None
            for _ in range(n):
                frame = self._next_frame()
                if frame is not None:
                    self.source_frame = new = frame
                # before any frame the composite shows its own gray
                frames.append(self.source_frame if self.source_frame is not None else
                              np.full((self.size, self.size, 3), GRAY, np.uint8))
            if new is not None:
                self.composite.set_source(new)
            tex = self.texture_dtype
            with torch.inference_mode():
                # uint8 → [0, 1] in the composite's texture format, as a step downloads it
                images = torch.from_numpy(np.stack(frames)).to(self.device).permute(0, 3, 1, 2)
                images = images.float().div_(255).to(tex).float()
                drives = self.stack.inner_steps(images, self._context(mixed=False))
                self._states = [up.to(tex) for up in drives.up]     # what a mix that passes them through makes
                self._top_before.copy_(self._states[-1])
                self._last_prediction.copy_(drives.prediction[0].permute(1, 2, 0).to(tex))
            self._drives = drives
            self.step_index += n
            self.steps_inside += n

    def step(self) -> StepRecord:
        t, p = self.timer, self.registry
        self._reset_if_diverged()
        with t("source"):
            frame = self._next_frame()
            if frame is not None:
                self.composite.set_source(frame)
                self.source_frame = frame
        with t("composite"):
            blinking = p["blink"] and self.step_index % BLINK_PERIOD < BLINK_LENGTH
            self.composite.render(p, self.prediction, self.step_index, dream=1.0 if blinking else None)
        # one hand-over session for everything the step hands over: with interop each map/unmap pair
        # costs the driver the same, however many textures it takes (app.gl.interop)
        pending = self._mix_pending
        reads = [self.composite.output, *([self.mixer.state] if pending else [])]
        # a model without a prediction of its input of its own (autoencoders) shows the one it feeds back
        writes = [self.mixer.up, self.mixer.down, self.prediction,
                  *([self.seen_prediction] if self.capabilities.predicts_input else [])]
        with self.transfer.mapped(read=reads, write=writes) as m, torch.inference_mode():
            with t("download"):
                # straight into the graph's own input buffers once there is a graph
                into = self._graph.inputs if self._graph is not None else (None, None)
                image = m.view(self.composite.output, into[0]).to(self.device)
                mixed = m.view(self.mixer.state, into[1]).to(self.device) if pending else \
                    self.layout.pack(self._states, self.texture_dtype)
            with t("drive"):
                out = self._run_step_tensors(image, mixed)
                values = StepValues(out.values)
            with t("upload"):
                for texture, tensor in zip(writes, (out.up, out.down, out.prediction, out.seen)):
                    m.write(texture, tensor)
        self._states, self._drives = out.states, out.drives
        self._adopted(values)
        record = StepRecord(self.step_index, values, self._collect_mix)
        self.history.append(record)
        self._unchecked.append(record)
        with t("mix"):
            self.mixer.render(p, self.step_index)
        self._mix_pending, self._pending_record = True, record
        self.step_index += 1
        self._reset_if_diverged()
        return record

    def time_model(self, calls: int = 200) -> float:
        """Milliseconds per call of the step's torch side alone (a CUDA graph where the step uses one:
        the model's encoders and decoders, the unpacking and packing of the atlases and the step's
        measurements), on the last step's inputs: the time the loop could approach. A PVM takes its
        steps for real."""
        if self._last_inputs is None:
            raise RuntimeError("time_model needs a step first")
        image, mixed = (t.clone() for t in self._last_inputs)
        saved = [t.clone() for t in (self._top_before, self._last_prediction)]
        with torch.inference_mode():
            self._run_step_tensors(image, mixed)
            self._sync()
            start = time.perf_counter()
            for _ in range(calls):
                self._run_step_tensors(image, mixed)
            self._sync()
            for buffer, value in zip((self._top_before, self._last_prediction), saved):
                buffer.copy_(value)
        return (time.perf_counter() - start) * 1000.0 / calls

    def _reset_if_diverged(self) -> None:
        """Reset to noise once a finished step reports NaN/inf (checked without waiting for the GPU)."""
        while self._unchecked and self._unchecked[0].done:
            record = self._unchecked.popleft()
            if not record.finite:
                self.message = (f"the dynamics produced NaN/inf at step {record.step} (rule {self.registry['rule']}); "
                                f"the layers were reset to noise. Lower the gains or turn on squashing")
                self.reset()
                return

    def _run_step_tensors(self, image: torch.Tensor, mixed: torch.Tensor) -> StepTensors:
        """The torch side of a step, replayed as one CUDA graph where shapes and settings allow."""
        p = self.registry
        self._last_inputs = (image, mixed)
        graphable = (self.device.type == "cuda" and self.capabilities.graphable and p["inertia"] == 0
                     and p["latent_noise"] == 0 and p["objective.strength"] == 0
                     and ((p["motion"] == 0 and p["fatigue"] == 0) or p["dream"] == 0))
        if not graphable:
            return self._step_tensors(image, mixed)
        if self._graph is None:
            # capturing runs the step a few times: keep what it carries over unchanged
            saved = [t.clone() for t in (self._top_before, self._last_prediction)]
            self._graph = GraphedFunction(self._step_tensors, [image, mixed])
            for buffer, value in zip((self._top_before, self._last_prediction), saved):
                buffer.copy_(value)
        return self._graph(image, mixed)

    def _step_tensors(self, image4: torch.Tensor, mixed: torch.Tensor) -> StepTensors:
        """From the composite (S, S, 4) and the last mix (an atlas): the layers' states, their drives,
        the predictions and the step's values. Updates ``_top_before`` and ``_last_prediction``."""
        p = self.registry
        states = self.layout.unpack(mixed)
        top = states[-1]
        x = image4[..., :3]
        image = x.permute(2, 0, 1).unsqueeze(0).contiguous(memory_format=torch.channels_last)
        if p["objective.strength"] > 0:         # dreaming toward a unit; at 0 the step is untouched
            image = self._toward(image)
        capabilities = self.capabilities
        dtype = capabilities.compute_dtype or self.dtype
        context = self._context(mixed=self._drives is not None and not self.rules.passes_through(self.n_layers))
        drives = self.stack.drives(image.to(dtype), [s.to(dtype) for s in states], context)
        if capabilities.code_operations:
            drives = modify_drives(drives, states, self._top_before, p, self.generator, self.fatigue, self.wander)
        tex = self.texture_dtype
        prediction = _rgba(drives.prediction[0].permute(1, 2, 0), tex)
        seen = prediction if drives.seen_prediction is None else _rgba(drives.seen_prediction[0].permute(1, 2, 0), tex)
        values = torch.stack([_rms(prediction[..., :3], self._last_prediction), _rms(top, self._top_before),
                              _rms(x, seen[..., :3])])
        self._top_before.copy_(top)
        self._last_prediction.copy_(prediction[..., :3])
        return StepTensors(states, drives, self.layout.pack(drives.up, tex), self.layout.pack(drives.down, tex),
                           prediction, seen, values)

    def _toward(self, image: torch.Tensor) -> torch.Tensor:
        """The step's input after one step of ascent toward the probed unit (``app.loop.objective``)."""
        probe = self.stack.prober(self.size)
        try:
            if probe is None:
                raise ValueError(f"{self.loaded.name} cannot be probed")
            target = target_of(probe, self.registry)
        except ValueError as e:
            message = f"dreaming toward a unit is off: {e}"
            if self.message != message:
                self.message = message
            return image
        return toward(image, probe, target, self.registry, self.generator)

    @property
    def last_input(self) -> torch.Tensor | None:
        """(1, 3, S, S): a copy of the last step's input (the composite, before the step's operations), on
        the device."""
        if self._last_inputs is None:
            return None
        return self._last_inputs[0][..., :3].permute(2, 0, 1).unsqueeze(0).float().clone()

    def _last_image_change(self) -> float | None:
        """The last step's image change (read at once: a step that asks for it waits for the last)."""
        return self.history[-1].image_change if self.history else None

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.ctx.finish()

    # ---- what the views draw -------------------------------------------------------------
    @property
    def drives(self):
        """The last step's drives (None right after a reset)."""
        return self._drives

    def frame(self) -> Frame:
        atlases = {"state": self.mixer.state, "up": self.mixer.up, "down": self.mixer.down}
        seen = self.seen_prediction if self.capabilities.predicts_input else self.prediction
        return Frame(input=self.composite.output, prediction=seen, layout=self.layout,
                     rows=grid_rows(self.capabilities.grid_rows, atlases),
                     stats=lambda: layer_stats(self.capabilities.grid_rows, self.states, self._drives),
                     prediction_t2=self.stack.later_prediction())

    def release(self) -> None:
        self.transfer.release()
        self.mixer.release()
        self.composite.release()
        self.prediction.release()
        self.seen_prediction.release()
        if self.source is not None:
            self.source.close()
