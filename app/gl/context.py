"""OpenGL contexts: headless (EGL) for recording, benchmarks and tests; the window's own context
is made in ``app.ui.window``."""

from __future__ import annotations

import moderngl

from app.errors import UserError

MIN_GL_VERSION = 330


def headless_context() -> moderngl.Context:
    try:
        ctx = moderngl.create_standalone_context(backend="egl", require=MIN_GL_VERSION)
    except Exception as e:  # moderngl/glcontext raise plain Exceptions for missing loaders
        detail = " ".join(str(e).split())[:160]
        raise UserError(f"cannot open a headless OpenGL 3.3 context through EGL ({detail}); install the EGL "
                        f"and GL loaders (Debian/Ubuntu: apt-get install libegl1 libgl1) and a driver "
                        f"(Mesa or NVIDIA)") from None
    return ctx


def describe(ctx: moderngl.Context) -> str:
    info = ctx.info
    return f"{info.get('GL_RENDERER', '?')} — OpenGL {info.get('GL_VERSION', '?')}"
