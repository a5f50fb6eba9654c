"""The window's probe: the selected unit's preferred stimulus, its receptive field outlined on the view,
its live response, its spikes (and clicks), a canvas to draw stimuli on, and dreaming toward it.

The unit is the one the ``probe.*`` parameters select (a click on a unit in the grid view sets them).
Everything that takes time runs on two threads of its own, on a snapshot of the model's probe: the
gradient ascent and the top patches (one job per selection), and the responses to the loop's input and
to the canvas (always the newest of each; older ones are dropped). A model that learns gets a fresh
snapshot every ``REFRESH_STEPS`` steps. Nothing here names a kind: the probe contract answers.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import moderngl
import numpy as np
import torch
from imgui_bundle import imgui, implot

from app.analysis.ascent import GRAY, AscentConfig, ascend, frames_with, place, shown
from app.analysis.spikes import SpikeTrain
from app.analysis.top_patches import scan_images, top_patches
from app.loop.objective import target_of
from app.models.probing import ProbeTarget, unit_response
from app.ui.sound import ClickPlayer, SoundUnavailable

REFRESH_STEPS = 30
HISTORY = 600
CANVAS_PX = 150
IMAGE_CELLS = ("prediction", "input", "error")
FIELD_COLOR = (1.0, 0.85, 0.1, 1.0)
UNIT_COLOR = (0.2, 1.0, 1.0, 1.0)
INKS = {"white": 1.0, "black": 0.0, "gray": GRAY}
DIM = imgui.ImVec4(0.65, 0.65, 0.7, 1.0)
WARN = imgui.ImVec4(1.0, 0.78, 0.3, 1.0)
TOP_K = 4


class _Responses:
    """A thread that computes the newest pending responses (the loop's input, the canvas) in turn."""

    def __init__(self, on_live, on_canvas):
        self._lock = threading.Condition()
        self._live = self._canvas = None
        self._on_live, self._on_canvas = on_live, on_canvas
        self._stop = False
        self._thread: threading.Thread | None = None     # started by the first job

    def _post(self, live=None, canvas=None) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="probe responses", daemon=True)
                self._thread.start()
            self._live = live or self._live
            self._canvas = canvas or self._canvas
            self._lock.notify()

    def post_live(self, job) -> None:
        self._post(live=job)

    def post_canvas(self, job) -> None:
        self._post(canvas=job)

    def _run(self) -> None:
        torch.set_num_threads(1)
        while True:
            with self._lock:
                while not self._stop and self._live is None and self._canvas is None:
                    self._lock.wait()
                if self._stop:
                    return
                live, canvas, self._live, self._canvas = self._live, self._canvas, None, None
            for job, done in ((live, self._on_live), (canvas, self._on_canvas)):
                if job is not None:
                    try:
                        done(job[0], job[1]())
                    except Exception:       # a selection that changed under the job: the next one follows
                        pass

    def close(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join(5)


class ProbeView:
    def __init__(self):
        self.key: tuple | None = None
        self.target: ProbeTarget | None = None
        self.field = None
        self.error = ""
        self.probe = None                   # a snapshot, shared by the worker threads
        self.snapshot_step = 0
        self.stimulus: np.ndarray | None = None
        self.patches: list[np.ndarray] = []
        self.stimulus_gain = (0.0, 0.0)
        self._job: Future | None = None
        self._jobs = ThreadPoolExecutor(1, thread_name_prefix="probe stimulus")
        self.live: collections.deque[tuple[int, float]] = collections.deque(maxlen=HISTORY)
        self.canvas: np.ndarray | None = None
        self.canvas_version = 0
        self.canvas_responses: collections.deque[tuple[int, float]] = collections.deque(maxlen=HISTORY)
        self.spikes = SpikeTrain()
        self.spike_times: collections.deque[float] = collections.deque(maxlen=400)
        self.player: ClickPlayer | None = None
        self.sound_message = ""
        self._textures: dict[str, moderngl.Texture] = {}
        self._uploaded: dict[str, int] = {}
        self._lock = threading.Lock()
        self._responses = _Responses(self._got_live, self._got_canvas)
        self._images: list | None = None
        self._live_step = -1
        self.frames = 0                     # displayed frames, and the last one that drew the Probe tab
        self.shown_at = -10
        self._images_size: int | None = None

    # ------------------------------------------------------------------------ selection and jobs
    def update(self, state) -> None:
        """Once per displayed frame, after the loop stepped: follow the selection, start what it needs,
        hand the newest input to the response thread."""
        engine, registry = state.engine, state.registry
        self._collect()
        self._sound(state)
        self.frames += 1
        if self.frames - self.shown_at > 2 and not registry["probe.sound"]:
            return                          # the Probe tab is closed: nothing to compute or draw
        probe = engine.model.prober(engine.size)
        try:
            if probe is None:
                raise ValueError(f"{engine.loaded.name} cannot be probed")
            target = target_of(probe, registry)
        except ValueError as e:
            self._select(None, None, None, str(e))
            return
        key = (id(engine.model), engine.loaded.name, engine.size, target)
        if key != self.key:
            self._select(key, target, probe, "")
        elif engine.capabilities.learns and engine.step_index - self.snapshot_step >= REFRESH_STEPS:
            self.probe, self.snapshot_step = probe.snapshot(), engine.step_index
        frame = engine.last_input if engine.step_index != self._live_step else None
        if frame is not None and self.probe is not None:
            self._live_step = engine.step_index
            side, inner, (dy, dx) = self.probe.compact(target)
            crop = frame[:, :, dy:dy + side, dx:dx + side]
            probe_now = self.probe

            def respond() -> float:
                with torch.no_grad():
                    return float(unit_response(probe_now, crop, inner)[0])
            self._responses.post_live((engine.step_index, respond))

    def _select(self, key, target, probe, error: str) -> None:
        if key == self.key and error == self.error:
            return
        self.key, self.target, self.error = key, target, error
        self.stimulus, self.patches = None, []
        self.live.clear()
        self.canvas_responses.clear()
        self.spikes.reset()
        self.spike_times.clear()
        if target is None:
            self.probe = self.field = self.canvas = None
            return
        self.probe = probe.snapshot()
        self.snapshot_step = 0
        self.field = probe.receptive_field(target).clipped(probe.size)
        self.canvas = np.full((self.field.height, self.field.width, 3), GRAY, np.float32)
        self.canvas_version += 1
        self._post_canvas()
        if self._job is not None:
            self._job.cancel()
        self._job = self._jobs.submit(self._stimulus, key, self.probe, target)

    def _scan_images(self, probe) -> list:
        """The images top patches come from, read once per frame size (on the job's thread)."""
        if self._images is None or self._images_size != (probe.size, probe.resizable):
            self._images = list(scan_images(probe.size, probe.resizable))
            self._images_size = (probe.size, probe.resizable)
        return self._images

    def _stimulus(self, key, probe, target):
        torch.set_num_threads(1)
        stimulus = ascend(probe, [target], "zeros", AscentConfig())[0]
        tops = top_patches(probe, [target], TOP_K, self._scan_images(probe))[0]
        return key, shown(stimulus.added), [np.clip(p.patch * 255 + 0.5, 0, 255).astype(np.uint8) for p in tops], \
            (float(stimulus.curve[0]), float(stimulus.curve[-1]))

    def _collect(self) -> None:
        job = self._job
        if job is not None and job.done():
            self._job = None
            try:
                key, image, patches, gain = job.result()
            except Exception as e:
                self.error = f"the ascent failed: {e}"
                return
            if key == self.key:
                self.stimulus, self.patches, self.stimulus_gain = image, patches, gain

    def _got_live(self, step: int, value: float) -> None:
        with self._lock:
            self.live.append((step, value))
            for t in self.spikes.update(time.monotonic(), value):
                self.spike_times.append(t)
                if self.player is not None:
                    self.player.play([t])

    def _got_canvas(self, version: int, value: float) -> None:
        if version == self.canvas_version:
            with self._lock:
                self.canvas_responses.append((len(self.canvas_responses), value))

    def _post_canvas(self) -> None:
        probe, target, canvas, version = self.probe, self.target, self.canvas.copy(), self.canvas_version

        def respond() -> float:
            side, inner, _, box = place(probe, target)
            x = torch.from_numpy(canvas).permute(2, 0, 1)[None] - GRAY
            row, column = inner.position
            with torch.no_grad():
                return float(probe.responses(frames_with(x, side, box), inner.layer)[0, inner.unit, row, column])
        self._responses.post_canvas((version, respond))

    def _sound(self, state) -> None:
        registry = state.registry
        self.spikes.max_rate = registry["probe.rate"]
        wanted = registry["probe.sound"]
        if wanted and self.player is None and not self.sound_message:
            try:
                self.player = ClickPlayer.open()
            except SoundUnavailable as e:
                self.sound_message = str(e)
                state.notify(self.sound_message)
        elif not wanted:
            if self.player is not None:
                self.player.close()
                self.player = None
            self.sound_message = ""

    # ---------------------------------------------------------------------------------- drawing
    def _texture(self, ctx: moderngl.Context, name: str, image: np.ndarray, version: int) -> moderngl.Texture:
        h, w = image.shape[:2]
        tex = self._textures.get(name)
        if tex is None or tex.size != (w, h):
            if tex is not None:
                tex.release()
            tex = self._textures[name] = ctx.texture((w, h), 3)
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._uploaded[name] = -1
        if self._uploaded.get(name) != version:
            tex.write(np.ascontiguousarray(image, np.uint8).tobytes())
            self._uploaded[name] = version
        return tex

    def draw_section(self, state, remember, param_widget) -> None:
        """The panel's Probe tab. ``remember(key)`` records the last widget's rectangle for UI tests;
        ``param_widget(registry, param)`` draws a parameter's control."""
        self.shown_at = self.frames
        r = state.registry
        imgui.push_text_wrap_pos(0.0)
        if self.error:
            imgui.text_colored(WARN, self.error)
        elif self.target is None:
            imgui.text_colored(DIM, "reading the model...")
            imgui.pop_text_wrap_pos()
            return
        else:
            imgui.text(f"{self.target.describe()}, field {self.field.height}x{self.field.width} px")
        imgui.text_colored(DIM, "click a unit in the grid view (3) to probe it")
        imgui.pop_text_wrap_pos()
        if imgui.tree_node("pick it by hand"):
            for name in ("probe.layer", "probe.unit", "probe.x", "probe.y"):
                param_widget(r, r.param(name))
            imgui.tree_pop()
        if self.error:
            return
        self._images_row(state, remember, param_widget)
        self._plots(state, remember)
        if imgui.tree_node("spikes and sound"):
            param_widget(r, r.param("probe.sound"))
            param_widget(r, r.param("probe.rate"))
            if self.sound_message:
                imgui.push_text_wrap_pos(0.0)
                imgui.text_colored(WARN, self.sound_message)
                imgui.pop_text_wrap_pos()
            imgui.tree_pop()
        imgui.separator_text("Dream toward it")
        for p in r.params("objective"):
            param_widget(r, p)

    def _images_row(self, state, remember, param_widget) -> None:
        """The preferred stimulus beside the canvas, the top patches below it."""
        r, ctx = state.registry, state.engine.ctx
        field = self.field
        aspect = field.height / max(1, field.width)
        side = 120
        group_origin = imgui.get_cursor_screen_pos()
        if self.stimulus is None:
            imgui.dummy(imgui.ImVec2(side, side * aspect))
            imgui.get_window_draw_list().add_text(imgui.ImVec2(group_origin.x + 4, group_origin.y + 4),
                                                  imgui.get_color_u32(DIM), "computing...")
        else:
            tex = self._texture(ctx, "stimulus", self.stimulus, id(self.stimulus))
            imgui.image(imgui.ImTextureRef(tex.glo), imgui.ImVec2(side, side * aspect))
            remember("probe:stimulus")
            imgui.set_item_tooltip(f"preferred stimulus (gradient ascent from gray, 100 SGD steps): response "
                                   f"{self.stimulus_gain[0]:.3f} -> {self.stimulus_gain[1]:.3f}")
        imgui.same_line()
        canvas = self.canvas
        h, w = canvas.shape[:2]
        scale = CANVAS_PX / max(h, w)
        size = imgui.ImVec2(w * scale, h * scale)
        origin = imgui.get_cursor_screen_pos()
        tex = self._texture(ctx, "canvas", np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8), self.canvas_version)
        imgui.image(imgui.ImTextureRef(tex.glo), size)
        imgui.set_cursor_screen_pos(origin)
        imgui.invisible_button("probe canvas", size)
        remember("probe:canvas")
        imgui.set_item_tooltip("draw here: the unit's response to the drawing is plotted below")
        if imgui.is_item_active() and imgui.is_mouse_down(imgui.MouseButton_.left):
            mouse = imgui.get_io().mouse_pos
            self.paint((mouse.y - origin.y) / scale, (mouse.x - origin.x) / scale, r["probe.brush"],
                       INKS[r["probe.ink"]])
        for i, patch in enumerate(self.patches):
            if i:
                imgui.same_line()
            tex = self._texture(ctx, f"patch{i}", patch, id(patch))
            imgui.image(imgui.ImTextureRef(tex.glo), imgui.ImVec2(28, 28 * aspect))
            imgui.set_item_tooltip("a top patch: of the photos and sample-clip frames, one that drives it most")
        if self.patches:
            imgui.same_line()
        if imgui.button("Clear##probe canvas"):
            self.clear_canvas()
        remember("probe:clear")
        imgui.same_line()
        imgui.set_next_item_width(70)
        param_widget(r, r.param("probe.ink"))
        imgui.same_line()
        imgui.set_next_item_width(70)
        param_widget(r, r.param("probe.brush"))

    def _plots(self, state, remember) -> None:
        with self._lock:
            live = np.array(self.live, np.float64).reshape(-1, 2)
            spikes = np.array(self.spike_times, np.float64)
            drawn = np.array(self.canvas_responses, np.float64).reshape(-1, 2)
        recent = spikes[spikes > time.monotonic() - 1.0]
        imgui.text(f"response {live[-1, 1] if len(live) else float('nan'):.4f}, {len(recent)} spikes/s; "
                   f"to the canvas {drawn[-1, 1] if len(drawn) else float('nan'):.4f}")
        if implot.begin_plot("##probe responses", imgui.ImVec2(-1, 120)):
            implot.setup_axes("", "", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
            implot.setup_legend(implot.Location_.north_west)
            if len(live) >= 2:
                x = np.ascontiguousarray(live[:, 0] - live[-1, 0])
                implot.plot_line("loop input (by step)", x, np.ascontiguousarray(live[:, 1]))
            implot.end_plot()
        remember("probe:plot")
        if implot.begin_plot("##probe canvas responses", imgui.ImVec2(-1, 90)):
            implot.setup_axes("", "", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
            implot.setup_legend(implot.Location_.north_west)
            if len(drawn):
                implot.plot_line("canvas (by stroke)", np.ascontiguousarray(drawn[:, 0]),
                                 np.ascontiguousarray(drawn[:, 1]))
            implot.end_plot()
        remember("probe:canvas_plot")

    def paint(self, row: float, column: float, radius: int, ink: float) -> None:
        """A disc of ``ink`` on the canvas at (row, column), in field pixels."""
        if self.canvas is None:
            return
        h, w = self.canvas.shape[:2]
        ys, xs = np.ogrid[:h, :w]
        disc = (ys + 0.5 - row) ** 2 + (xs + 0.5 - column) ** 2 <= radius ** 2
        if not disc.any() or np.all(self.canvas[disc] == ink):
            return
        self.canvas[disc] = ink
        self.canvas_version += 1
        self._post_canvas()

    def clear_canvas(self) -> None:
        if self.canvas is not None:
            self.canvas[:] = GRAY
            self.canvas_version += 1
            with self._lock:
                self.canvas_responses.clear()
            self._post_canvas()

    def draw_overlay(self, state, scale: float) -> None:
        """The field outlined on the image cells; the unit marked in its layer's grid cell (while the Probe
        tab is open)."""
        if self.target is None or self.field is None or self.frames - self.shown_at > 2:
            return
        draw = imgui.get_background_draw_list()
        size = state.engine.size
        t, l, b, r = self.field.box
        color = imgui.get_color_u32(imgui.ImVec4(*FIELD_COLOR))
        first = True
        for cell in state.cells:
            if cell.label in IMAGE_CELLS:
                x0, y0 = (cell.x + l / size * cell.w) / scale, (cell.y + t / size * cell.h) / scale
                x1, y1 = (cell.x + r / size * cell.w) / scale, (cell.y + b / size * cell.h) / scale
                draw.add_rect(imgui.ImVec2(x0, y0), imgui.ImVec2(x1, y1), color, 0.0, 2.0)
                if first:
                    state.widgets["probe:field"] = [x0, y0, x1, y1]
                    first = False
        where = self.probe.state_of(self.target) if self.probe is not None else None
        if where is None:
            return
        layer, channel, row, column = where
        bands = state.engine.layout.bands
        if layer > len(bands):
            return
        band = bands[layer - 1]
        grid_columns = math.ceil(math.sqrt(band.channels))
        grid_rows = math.ceil(band.channels / grid_columns)
        tile_row, tile_column = divmod(channel, grid_columns)
        unit_color = imgui.get_color_u32(imgui.ImVec4(*UNIT_COLOR))
        for cell in state.cells:
            if cell.label.startswith(f"layer {layer} "):
                tw, th = cell.w / grid_columns, cell.h / grid_rows
                x0 = cell.x + tile_column * tw + column / band.width * tw
                y0 = cell.y + tile_row * th + row / band.height * th
                x1, y1 = x0 + max(tw / band.width, 2), y0 + max(th / band.height, 2)
                draw.add_rect(imgui.ImVec2(x0 / scale - 1, y0 / scale - 1), imgui.ImVec2(x1 / scale + 1, y1 / scale + 1),
                              unit_color, 0.0, 2.0)

    def report(self) -> dict:
        """What the UI probe file says of the probe (for tests driving the window)."""
        with self._lock:
            live = list(self.live)[-1:]
            canvas = list(self.canvas_responses)
        return {"target": self.target.to_dict() if self.target else None, "error": self.error,
                "field": list(self.field.box) if self.field else None, "stimulus": self.stimulus is not None,
                "live": len(self.live), "live_last": live[0][1] if live else None,
                "canvas_responses": len(canvas), "canvas_last": canvas[-1][1] if canvas else None,
                "canvas_version": self.canvas_version, "spikes": self.spikes.count, "sound": self.sound_message}

    def close(self) -> None:
        self._responses.close()
        self._jobs.shutdown(wait=False, cancel_futures=True)
        if self.player is not None:
            self.player.close()
        for tex in self._textures.values():
            tex.release()
        self._textures.clear()


def select_in_layer(state, layer: int, u: float, v: float) -> bool:
    """A click at (u, v) (fractions, from the top left) in a grid cell of feature layer ``layer``: select the
    unit whose value is drawn there. False where the click fell between the channel tiles."""
    engine = state.engine
    bands = engine.layout.bands
    if not 1 <= layer <= len(bands):
        return False
    band = bands[layer - 1]
    grid_columns = math.ceil(math.sqrt(band.channels))
    grid_rows = math.ceil(band.channels / grid_columns)
    fx, fy = u * grid_columns, v * grid_rows
    channel = int(fy) * grid_columns + int(fx)
    if channel >= band.channels:
        return False
    row = min(band.height - 1, int((fy - int(fy)) * band.height))
    column = min(band.width - 1, int((fx - int(fx)) * band.width))
    probe = engine.model.prober(engine.size)
    if probe is None:
        state.notify(f"{engine.loaded.name} cannot be probed")
        return True
    target = probe.target_at(layer, channel, row, column)
    select(state, target)
    return True


def select(state, target: ProbeTarget) -> None:
    """Put ``target`` in the registry's ``probe.*`` parameters."""
    engine, r = state.engine, state.registry
    probe = engine.model.prober(engine.size)
    grid = next(l.grid for l in probe.layers() if l.name == target.layer)
    r.set("probe.layer", int(target.layer))
    r.set("probe.unit", target.unit)
    r.set("probe.x", (target.position[1] + 0.5) / grid[1])
    r.set("probe.y", (target.position[0] + 0.5) / grid[0])
    state.notify(f"probing {target.describe()}")
