"""One step of the dreaming loop, with no window and no UI.

    composite (GLSL) → input x → drives (torch) → mix (GLSL) → new layer states
                                        └──────→ prediction P → next step's composite

The prediction P_t is decoded from layer 1's state *before* it sees x_t, so x_t − P_t is a true
prediction error. Every controller writes the registry; ``step`` reads it once.
"""

from __future__ import annotations

import collections
import math
import time
from typing import NamedTuple

import moderngl
import numpy as np
import torch

from app.loop.device import PRECISIONS, TEXTURE_FORMATS
from app.loop.drives import apply as modify_drives
from app.loop.records import IMAGE_CHANGE, StepRecord, StepValues
from app.errors import UserError
from app.gl.atlas import AtlasLayout
from app.gl.composite import CompositePass
from app.gl.mixer import Mixer, RuleSet
from app.gl.transfer import TORCH_DTYPES
from app.gl.transfer_choice import pick_transfer
from app.gl.views import Frame
from app.models.checkpoint import LoadedModel
from app.loop.graph import GraphedFunction
from app.models.pvm.model import PVM
from app.loop.modes import apply_mode
from app.models.pvm.stack import PVMStack, mixing_passes_through
from app.params import Registry
from app.sources import Source
from app.loop.timing import StageTimer


BLINK_PERIOD, BLINK_LENGTH = 20, 2   # blinks: 2 of every 20 steps see the prediction


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
        self.generator = torch.Generator().manual_seed(seed)
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
    def set_model(self, loaded: LoadedModel) -> None:
        self._mix_pending = False             # a mix of the old model is of no use to the new one
        if isinstance(loaded.model, PVM):
            stack = PVMStack(loaded.model.to(self.device))
            self._resize(stack.frame_size)
        else:
            multiple = loaded.model.size_multiple
            if self.size % multiple:
                raise UserError(f"size {self.size} does not suit model {loaded.name}: it must be a multiple of "
                                f"{multiple}")
            stack = loaded.model.to(self.device, self.dtype)
            if self.device.type != "mps":
                stack = stack.to(memory_format=torch.channels_last)
            loaded.model = stack
        self.loaded = loaded
        self.stack = stack
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
        apply_mode(self.registry, "normal", self.mode_defaults())
        self.registry.set("mode", "normal")
        self._applied_mode = "normal"
        self.reset()

    def mode_defaults(self) -> dict:
        """Normal mixing gains for this kind of model (PVM: every layer reads its own signal)."""
        if self.kind == "pvm":
            return {"general.gain_up": 1.0, "general.gain_down": 0.0}
        return {}

    @property
    def kind(self) -> str:
        return self.stack.kind

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
        """The layer stack the loop runs (for PVM, the adapter around the model)."""
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

    def perturb(self, center: tuple[float, float] = (0.5, 0.5), radius: float = 2.0, strength: float = 0.5,
                kind: str = "noise") -> None:
        """Disturb the dream inside a disc (centre and radius as fractions of the frame, y down; a large
        radius covers everything): ``noise`` adds Gaussian noise of std ``strength`` to every layer and
        the prediction; ``source`` blends the source frame and its encoding in by ``strength``."""
        def disc(h: int, w: int) -> torch.Tensor:
            ys = (torch.arange(h) + 0.5) / h - center[1]
            xs = (torch.arange(w) + 0.5) / w - center[0]
            return ((ys[:, None] ** 2 + xs[None, :] ** 2) <= radius ** 2).float()

        with torch.inference_mode():
            prediction = self._last_prediction.to("cpu").clone()
            mask = disc(self.size, self.size)[..., None]
            if kind == "source":
                if self.source_frame is None or self.kind == "pvm":
                    return
                image = torch.from_numpy(self.source_frame).float() / 255.0
                target = self.model.encode(image.permute(2, 0, 1)[None].to(self.device, self.dtype)
                                           .contiguous(memory_format=torch.channels_last))
                target = [e.float() for e in target]
                prediction += strength * mask * (image - prediction)
                states = [s + strength * disc(*s.shape[-2:]).to(self.device) * (e - s)
                          for s, e in zip(self.states, target)]
            else:
                prediction = (prediction + strength * mask * torch.randn(prediction.shape,
                                                                         generator=self.generator)).clamp(0, 1)
                states = [s + strength * disc(*s.shape[-2:]).to(self.device)
                          * torch.randn(s.shape, generator=self.generator).to(self.device) for s in self.states]
        self.load_states(states, prediction)

    @property
    def last_prediction(self) -> torch.Tensor:
        """The latest prediction as an (S, S, 3) CPU tensor in [0, 1]."""
        return self._last_prediction.to("cpu")

    def snapshot(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Copies of every layer's state and of the last prediction, on the CPU."""
        return [s.detach().to("cpu").clone() for s in self.states], self.last_prediction.clone()

    # ---- the step ------------------------------------------------------------------------
    def advance(self) -> StepRecord:
        """One displayed or recorded frame: ``steps_per_frame`` steps."""
        for _ in range(self.registry["steps_per_frame"] - 1):
            self.step()
        return self.step()

    def step(self) -> StepRecord:
        t, p = self.timer, self.registry
        self._reset_if_diverged()
        self._apply_mode()
        with t("source"):
            held = p["freeze"] and self.source_frame is not None      # freeze holds a frame once there is one
            frame = None if held else self.source.read()
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
                  *([self.seen_prediction] if self.kind == "pvm" else [])]
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
        graphable = (self.device.type == "cuda" and self.kind != "pvm" and p["inertia"] == 0
                     and p["latent_noise"] == 0)
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
        if self.kind == "pvm":
            change = self.history[-1].image_change if self.history and p["pvm.sleep"] else None
            self.stack.apply_controls(p, change)
            feed = self._drives is not None and not mixing_passes_through(p, self.n_layers)
            # a PVM computes in float32 whatever the textures hold
            drives = self.stack.drives(image.float(), [s.float() for s in states], feed_states=feed)
        else:
            drives = self.stack.drives(image.to(self.dtype), [s.to(self.dtype) for s in states])
            drives = modify_drives(drives, states, self._top_before, p, self.generator)
        tex = self.texture_dtype
        prediction = _rgba(drives.prediction[0].permute(1, 2, 0), tex)
        seen = prediction if drives.seen_prediction is None else _rgba(drives.seen_prediction[0].permute(1, 2, 0), tex)
        values = torch.stack([_rms(prediction[..., :3], self._last_prediction), _rms(top, self._top_before),
                              _rms(x, seen[..., :3])])
        self._top_before.copy_(top)
        self._last_prediction.copy_(prediction[..., :3])
        return StepTensors(states, drives, self.layout.pack(drives.up, tex), self.layout.pack(drives.down, tex),
                           prediction, seen, values)

    def _apply_mode(self) -> None:
        mode = self.registry["mode"]
        if mode != self._applied_mode:
            apply_mode(self.registry, mode, self.mode_defaults())
            self._applied_mode = mode

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.ctx.finish()

    # ---- what the views draw -------------------------------------------------------------
    def frame(self) -> Frame:
        a, b, c = self.stack.rows if self.kind == "pvm" else ("state", "bottom-up", "top-down")
        rows = ((a, self.mixer.up, None), (b, self.mixer.down, None), (c, self.mixer.up, self.mixer.down)) \
            if self.kind == "pvm" else ((a, self.mixer.state, None), (b, self.mixer.up, None), (c, self.mixer.down, None))
        last = self.stack.last if self.kind == "pvm" else None
        seen = self.seen_prediction if self.kind == "pvm" else self.prediction
        return Frame(input=self.composite.output, prediction=seen, rows=rows, layout=self.layout,
                     stats=self.layer_stats, prediction_t2=None if last is None else last.predicted_frame_t2)

    def layer_stats(self) -> list[dict[str, tuple[float, float]]]:
        """Per layer and row of the grid view, the (center, scale) that maps values to display gray."""
        def stat(t: torch.Tensor) -> tuple[float, float]:
            mean, std = t.float().mean().item(), t.float().std().item()
            return mean, max(2.5 * std, 1e-3)

        drives = self._drives
        out = []
        for i, s in enumerate(self.states):
            if self.kind == "pvm":
                # signals, predictions and their difference share one scale so they compare
                entry = dict.fromkeys(self.stack.rows, (0.5, 0.5))     # [0, 1] → black … white
                entry["error"] = (0.25, 0.25)                           # [0, 0.5] → black … white
            else:
                entry = {"state": stat(s)}
                entry["bottom-up"] = stat(drives.up[i]) if drives else entry["state"]
                entry["top-down"] = stat(drives.down[i]) if drives else entry["state"]
            out.append(entry)
        return out

    def release(self) -> None:
        self.transfer.release()
        self.mixer.release()
        self.composite.release()
        self.prediction.release()
        self.seen_prediction.release()
        if self.source is not None:
            self.source.close()
