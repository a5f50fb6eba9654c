"""The composite pass: source frame + last prediction → the network's input for this step."""

from __future__ import annotations

import math

import moderngl
import numpy as np

from app.resources import shader_dir
from app.gl.shaders import program_from_file, set_uniform
from app.params import Registry

OCCLUDER_MODES = {"off": 0, "blind": 1, "inverse": 2}
OCCLUDER_SHAPES = {"disc": 0, "square": 1}
OCCLUDER_FILLS = {"gray": 0, "noise": 1, "prediction": 2}


class CompositePass:
    def __init__(self, ctx: moderngl.Context, size: int, dtype: str = "f4"):
        self.ctx = ctx
        self.size = size
        self.program, _ = program_from_file(ctx, shader_dir() / "composite.glsl")
        self.vao = ctx.vertex_array(self.program, [])
        self.source = ctx.texture((size, size), 3, dtype="f1")
        self.source.write(np.full((size, size, 3), 128, np.uint8))
        self.output = ctx.texture((size, size), 4, dtype=dtype)
        self.output.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.fbo = ctx.framebuffer(color_attachments=[self.output])

    def set_source(self, frame: np.ndarray) -> None:
        self.source.write(np.ascontiguousarray(frame))

    def render(self, params: Registry, prediction: moderngl.Texture, step_index: int,
               dream: float | None = None) -> None:
        """``dream`` overrides the registry's dream amount for this step (blinks)."""
        prog = self.program
        zoom = params["feedback.zoom"]
        angle = math.radians(params["feedback.rotate"])
        shift = (params["feedback.shift_x"], params["feedback.shift_y"])
        cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
        # GLSL mat2 is column-major: columns (cos, -sin) and (sin, cos) rotate sampling by -angle
        set_uniform(prog, "feedback_matrix", (cos, -sin, sin, cos))
        set_uniform(prog, "feedback_shift", shift)
        set_uniform(prog, "feedback_moves", zoom != 1.0 or angle != 0.0 or shift != (0.0, 0.0))
        set_uniform(prog, "size", (float(self.size), float(self.size)))
        set_uniform(prog, "dream", params["dream"] if dream is None else dream)
        set_uniform(prog, "input_noise", params["input_noise"])
        set_uniform(prog, "occluder_mode", OCCLUDER_MODES[params["occluder.mode"]])
        set_uniform(prog, "occluder_shape", OCCLUDER_SHAPES[params["occluder.shape"]])
        set_uniform(prog, "occluder_fill", OCCLUDER_FILLS[params["occluder.fill"]])
        set_uniform(prog, "occluder_center", (params["occluder.x"], params["occluder.y"]))
        set_uniform(prog, "occluder_size", params["occluder.size"])
        set_uniform(prog, "step_index", step_index)
        set_uniform(prog, "source_tex", 0)
        set_uniform(prog, "prediction_tex", 1)
        self.source.use(0)
        prediction.use(1)
        self.fbo.use()
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        for obj in (self.fbo, self.output, self.source, self.vao, self.program):
            obj.release()
