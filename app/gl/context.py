"""OpenGL contexts: headless for recording, benchmarks and tests, through each platform's own
backend (EGL on Linux, CGL on macOS, WGL on Windows); the window's own context is made in
``app.ui.window``."""

from __future__ import annotations

import sys

import moderngl

from app.errors import UserError

MIN_GL_VERSION = 330


def headless_backend() -> tuple[str | None, str]:
    """(moderngl's ``backend`` argument, the backend's name): EGL on Linux, where moderngl's default
    would need an X server; elsewhere moderngl's default standalone context (CGL, WGL)."""
    if sys.platform.startswith("linux"):
        return "egl", "EGL"
    if sys.platform == "darwin":
        return None, "CGL"
    if sys.platform == "win32":
        return None, "WGL"
    return None, "the default backend"


def _remedy() -> str:
    if sys.platform.startswith("linux"):
        return ("install the EGL and GL loaders (Debian/Ubuntu: apt-get install libegl1 libgl1) and a driver "
                "(Mesa or NVIDIA)")
    if sys.platform == "darwin":
        return "OpenGL 3.3 needs macOS 10.9 or later on a Mac whose GPU supports it; update macOS"
    if sys.platform == "win32":
        return ("install your GPU maker's graphics driver (NVIDIA, AMD or Intel); Windows' basic display "
                "driver has no OpenGL 3.3")
    return "install an OpenGL 3.3 driver"


def headless_context() -> moderngl.Context:
    backend, name = headless_backend()
    kwargs = {"backend": backend} if backend else {}
    try:
        ctx = moderngl.create_standalone_context(require=MIN_GL_VERSION, **kwargs)
    except Exception as e:  # moderngl/glcontext raise plain Exceptions for missing loaders
        detail = " ".join(str(e).split())[:160]
        raise UserError(f"cannot open a headless OpenGL 3.3 context through {name} ({detail}); "
                        f"{_remedy()}") from None
    return ctx


def describe(ctx: moderngl.Context) -> str:
    info = ctx.info
    return f"{info.get('GL_RENDERER', '?')} — OpenGL {info.get('GL_VERSION', '?')}"
