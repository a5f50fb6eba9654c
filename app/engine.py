"""One step of the dreaming loop, with no window and no UI.

    composite (GLSL) → input x → drives (torch) → mix (GLSL) → new layer states
                                        └──────→ prediction P → next step's composite

The prediction P_t is decoded from layer 1's state *before* it sees x_t, so x_t − P_t is a true
prediction error. Every controller writes the registry; ``step`` reads it once.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import moderngl
import numpy as np
import torch

from app.drives import apply as modify_drives
from app.errors import UserError
from app.gl.atlas import AtlasLayout
from app.gl.composite import CompositePass
from app.gl.mixer import Mixer, RuleSet
from app.gl.transfer import HostTransfer
from app.gl.views import Frame
from app.models.checkpoint import LoadedModel
from app.models.pvm import PVM
from app.modes import apply_mode
from app.pvm_adapter import PVMStack, mixing_passes_through
from app.params import Registry
from app.sources import Source
from app.timing import StageTimer


BLINK_PERIOD, BLINK_LENGTH = 20, 2   # blinks: 2 of every 20 steps see the prediction


@dataclass
class StepRecord:
    step: int
    image_change: float      # RMS of P_t − P_{t−1}
    top_change: float        # RMS of the top layer's S_t − S_{t−1}
    error: float             # RMS of x_t − P_t


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA GPU here; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps: torch sees no Apple GPU here; use --device auto or cpu")
    return torch.device(name)


class Engine:
    def __init__(self, ctx: moderngl.Context, registry: Registry, model: LoadedModel, source: Source,
                 size: int, device: torch.device | str = "cpu", rules: RuleSet | None = None,
                 seed: int = 0, sync_timing: bool = False, history: int = 600):
        torch.set_flush_denormal(True)  # see app.cli.main: worker threads started before this keep denormals
        self.ctx = ctx
        self.registry = registry
        self.size = size
        self.device = torch.device(device)
        self.rules = rules or RuleSet(ctx, registry)
        self.transfer = HostTransfer()
        self.generator = torch.Generator().manual_seed(seed)
        self.timer = StageTimer(sync=self._sync if sync_timing else None)
        self.history: collections.deque[StepRecord] = collections.deque(maxlen=history)
        self.step_index = 0
        self.message = ""
        self.source = source
        self.source_frame: np.ndarray | None = None
        self.composite = CompositePass(ctx, size)
        self.prediction = self._image_texture()          # fed back at the next step
        self.seen_prediction = self._image_texture()     # the prediction of the current input (views)
        self.loaded: LoadedModel | None = None
        self.mixer: Mixer | None = None
        self.set_model(model)

    # ---- configuration -------------------------------------------------------------------
    def set_model(self, loaded: LoadedModel) -> None:
        if isinstance(loaded.model, PVM):
            stack = PVMStack(loaded.model.to(self.device))
            self._resize(stack.frame_size)
        else:
            multiple = loaded.model.size_multiple
            if self.size % multiple:
                raise UserError(f"size {self.size} does not suit model {loaded.name}: it must be a multiple of "
                                f"{multiple}")
            stack = loaded.model.to(self.device)
            if self.device.type != "mps":
                stack = stack.to(memory_format=torch.channels_last)
            loaded.model = stack
        self.loaded = loaded
        self.stack = stack
        self.layout = AtlasLayout(stack.layer_shapes(self.size))
        if self.mixer is not None:
            self.mixer.release()
        self.mixer = Mixer(self.ctx, self.rules, self.layout)
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
        self.composite.release()
        self.composite = CompositePass(self.ctx, size)
        for tex in (self.prediction, self.seen_prediction):
            tex.release()
        self.prediction, self.seen_prediction = self._image_texture(), self._image_texture()

    def _image_texture(self) -> moderngl.Texture:
        tex = self.ctx.texture((self.size, self.size), 3, dtype="f4")
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
    def reset(self) -> None:
        """Every layer and the prediction to fresh noise."""
        self.states = self.model.noise_states(self.size, self.generator, self.device)
        atlas = self.layout.pack(self.states)
        for tex in self.mixer.states:
            self.transfer.upload(tex, atlas)
        self._last_prediction = torch.rand((self.size, self.size, 3), generator=self.generator)
        self.transfer.upload(self.prediction, self._last_prediction)
        self.transfer.upload(self.seen_prediction, self._last_prediction)
        self._drives = None
        self._previous_top = None
        self.history.clear()

    def load_states(self, states: list[torch.Tensor], prediction: torch.Tensor | None = None) -> None:
        """Put the loop in a given state (e.g. a saved attractor)."""
        expected = [(1, *shape) for shape in self.model.layer_shapes(self.size)]
        if [tuple(s.shape) for s in states] != expected:
            raise UserError(f"saved state has layers {[tuple(s.shape) for s in states]} but {self.loaded.name} "
                            f"at {self.size}px needs {expected}; load it with the model and size it was saved from")
        self.states = [s.to(self.device).contiguous(memory_format=torch.channels_last) for s in states]
        self._previous_top = None
        self.transfer.upload(self.mixer.state, self.layout.pack(self.states))
        if prediction is not None:
            self._last_prediction = prediction.to("cpu", torch.float32)
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
            prediction = self._last_prediction.clone()
            mask = disc(self.size, self.size)[..., None]
            if kind == "source":
                if self.source_frame is None or self.kind == "pvm":
                    return
                image = torch.from_numpy(self.source_frame).float() / 255.0
                target = self.model.encode(image.permute(2, 0, 1)[None].to(self.device)
                                           .contiguous(memory_format=torch.channels_last))
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
        return self._last_prediction

    def snapshot(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Copies of every layer's state and of the last prediction, on the CPU."""
        return [s.detach().to("cpu").clone() for s in self.states], self._last_prediction.clone()

    # ---- the step ------------------------------------------------------------------------
    def advance(self) -> StepRecord:
        """One displayed or recorded frame: ``steps_per_frame`` steps."""
        for _ in range(self.registry["steps_per_frame"] - 1):
            self.step()
        return self.step()

    def step(self) -> StepRecord:
        t, p = self.timer, self.registry
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
        with t("download"):
            x = self.transfer.download(self.composite.output, self.device)[..., :3]
            image = x.permute(2, 0, 1).unsqueeze(0).contiguous(memory_format=torch.channels_last)
        with t("drive"), torch.inference_mode():
            drives = self._drives_for(image)
            prediction = drives.prediction[0].permute(1, 2, 0).float()
            seen = prediction if drives.seen_prediction is None else drives.seen_prediction[0].permute(1, 2, 0)
        with t("upload"):
            self.transfer.upload(self.mixer.up, self.layout.pack(drives.up))
            self.transfer.upload(self.mixer.down, self.layout.pack(drives.down))
            self.transfer.upload(self.prediction, prediction)
            self.transfer.upload(self.seen_prediction, seen)
        with t("mix"):
            self.mixer.render(p, self.step_index)
        with t("download"):
            atlas = self.transfer.download(self.mixer.state, self.device)
            new_states = self.layout.unpack(atlas)
        record = self._measure(x, seen, prediction, new_states)
        if not torch.isfinite(atlas).all() or not torch.isfinite(prediction).all():
            rule = p["rule"]
            self.message = (f"the dynamics produced NaN/inf at step {self.step_index} (rule {rule}); the "
                            f"layers were reset to noise. Lower the gains or turn on squashing")
            self.reset()
        else:
            self._previous_top = self.states[-1]
            self.states = [s.contiguous(memory_format=torch.channels_last) for s in new_states]
            self._drives = drives
        self.step_index += 1
        return record

    def _drives_for(self, image: torch.Tensor):
        p = self.registry
        if self.kind == "pvm":
            change = self.history[-1].image_change if self.history else None
            self.stack.apply_controls(p, change)
            feed = self._drives is not None and not mixing_passes_through(p, self.n_layers)
            return self.stack.drives(image, self.states, feed_states=feed)
        drives = self.stack.drives(image, self.states)
        return modify_drives(drives, self.states, self._previous_top, p, self.generator)

    def _apply_mode(self) -> None:
        mode = self.registry["mode"]
        if mode != self._applied_mode:
            apply_mode(self.registry, mode, self.mode_defaults())
            self._applied_mode = mode

    def _measure(self, x, seen, prediction, new_states) -> StepRecord:
        with torch.inference_mode():
            prediction_cpu = prediction.detach().to("cpu")
            image_change = (prediction_cpu - self._last_prediction).pow(2).mean().sqrt().item()
            top_change = (new_states[-1] - self.states[-1]).pow(2).mean().sqrt().item()
            error = (x - seen).pow(2).mean().sqrt().item()
        self._last_prediction = prediction_cpu
        record = StepRecord(self.step_index, image_change, top_change, error)
        self.history.append(record)
        return record

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.ctx.finish()

    # ---- what the views draw -------------------------------------------------------------
    def frame(self) -> Frame:
        a, b, c = self.stack.rows if self.kind == "pvm" else ("state", "bottom-up", "top-down")
        rows = ((a, self.mixer.up, None), (b, self.mixer.down, None), (c, self.mixer.up, self.mixer.down)) \
            if self.kind == "pvm" else ((a, self.mixer.state, None), (b, self.mixer.up, None), (c, self.mixer.down, None))
        return Frame(input=self.composite.output, prediction=self.seen_prediction, rows=rows, layout=self.layout,
                     stats=self.layer_stats)

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
        self.mixer.release()
        self.composite.release()
        self.prediction.release()
        self.seen_prediction.release()
        if self.source is not None:
            self.source.close()
