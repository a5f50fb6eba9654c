"""The output window: the view alone, for a projector or a second display, while the panel stays in
the main window.

It is a second GLFW window whose GL context shares the main one's objects: the view is rendered
in the main context into a texture the size of the output window's framebuffer (letterboxed, black
bars), and the output context draws that texture. No pixel leaves the GPU. On a monitor of its
own the window is borderless and covers that monitor at its resolution; with one monitor it opens
as a movable window. ``f`` in it toggles fullscreen; closing it, or its monitor going away, is said
in one line and the main window carries on. When its monitor goes, it moves to the panel's; when
the monitor it was asked for appears (again), it moves there.
"""

from __future__ import annotations

import time

from app.ui.window import Window  # imports imgui_bundle before glfw
import glfw
import moderngl

from app.gl.output import OffscreenTarget

TITLE = "Hypnagogia output"
WINDOWED_SIZE = (960, 540)
MONITOR_POLL_S = 1.0
BLIT = """
#version 330 core
out vec2 uv;
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
""", """
#version 330 core
uniform sampler2D view;
in vec2 uv;
out vec4 color;
void main() { color = vec4(texture(view, uv).rgb, 1.0); }
"""


def monitor_names() -> list[str]:
    """The connected monitors, primary first, as the picker and ``--output-monitor`` number them."""
    return [_name(m) for m in glfw.get_monitors()]


def _name(monitor) -> str:
    name = glfw.get_monitor_name(monitor)
    mode = glfw.get_video_mode(monitor)
    text = name.decode() if isinstance(name, bytes) else str(name)
    return f"{text} {mode.size.width}×{mode.size.height}"


class OutputWindow:
    def __init__(self, main: Window, monitor: int | None = None):
        self.main = main
        self.message = ""
        self.closed = False
        monitors = glfw.get_monitors()
        self.monitor_index = monitor
        own_monitor = monitor is not None and 0 < monitor < len(monitors)     # 0 holds the panel
        if monitor and not own_monitor:
            self.message = (f"output monitor {monitor}: only {len(monitors)} monitor"
                            f"{'s' if len(monitors) != 1 else ''} (0 is the panel's); the output opens as a "
                            f"movable window")
        glfw.window_hint(glfw.DECORATED, not own_monitor)
        glfw.window_hint(glfw.FOCUS_ON_SHOW, False)
        if own_monitor:
            target = monitors[monitor]
            mode = glfw.get_video_mode(target)
            size, position = (mode.size.width, mode.size.height), glfw.get_monitor_pos(target)
        else:
            size, position = WINDOWED_SIZE, self._beside_main(monitors)
        self.handle = glfw.create_window(*size, TITLE, None, main.handle)
        glfw.default_window_hints()
        if not self.handle:
            raise RuntimeError("GLFW could not open the output window")
        glfw.set_window_pos(self.handle, *position)
        self.fullscreen = False
        self.windowed_rect = (*position, *size)
        self._monitor_count = len(monitors)
        self._displaced = bool(monitor) and not own_monitor     # not on the monitor asked for (yet)
        self._next_poll = time.monotonic() + MONITOR_POLL_S
        glfw.set_key_callback(self.handle, self._on_key)
        glfw.make_context_current(self.handle)
        try:
            glfw.swap_interval(0)        # the main window's swap keeps the pace; two vsyncs would halve it
            self.ctx = moderngl.create_context(require=330)
            self.program = self.ctx.program(vertex_shader=BLIT[0], fragment_shader=BLIT[1])
            self.vao = self.ctx.vertex_array(self.program, [])
        finally:
            glfw.make_context_current(main.handle)
        self.target: OffscreenTarget | None = None
        self._shared: moderngl.Texture | None = None
        self._toggle_requested = False

    def _beside_main(self, monitors) -> tuple[int, int]:
        x, y = glfw.get_window_pos(self.main.handle)
        w, _ = glfw.get_window_size(self.main.handle)
        mode = glfw.get_video_mode(monitors[0])
        right = x + w + 16
        return (right, y) if right + WINDOWED_SIZE[0] <= mode.size.width else (max(0, x + 40), max(0, y + 40))

    def _on_key(self, window, key, scancode, action, mods) -> None:
        if action == glfw.PRESS and key == glfw.KEY_F:
            self._toggle_requested = True
        if action == glfw.PRESS and key == glfw.KEY_ESCAPE and self.fullscreen:
            self._toggle_requested = True

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        return glfw.get_framebuffer_size(self.handle)

    def geometry(self) -> list[int]:
        """x, y, width, height of the window on the screen (the UI probe reports it)."""
        return [*glfw.get_window_pos(self.handle), *glfw.get_window_size(self.handle)]

    def show(self, draw) -> None:
        """Draw the view: ``draw(fbo, size)`` renders it into a framebuffer of the main context."""
        if self.closed:
            return
        if glfw.window_should_close(self.handle):
            self.close("output window closed")
            return
        self._watch_monitors()
        if self._toggle_requested:
            self._toggle_requested = False
            self.toggle_fullscreen()
        width, height = self.framebuffer_size
        if width == 0 or height == 0:           # minimised
            return
        if self.target is None or self.target.size != (width, height):
            self._make_target(width, height)
        self.target.clear()
        draw(self.target.fbo, (width, height))
        self.main.ctx.finish()                   # the output context reads what the main one drew
        glfw.make_context_current(self.handle)
        try:
            screen = self.ctx.screen
            screen.use()
            screen.viewport = (0, 0, width, height)
            self._shared.use(0)
            self.program["view"].value = 0
            self.vao.render(moderngl.TRIANGLES, vertices=3)
            glfw.swap_buffers(self.handle)
        finally:
            glfw.make_context_current(self.main.handle)

    def _make_target(self, width: int, height: int) -> None:
        if self.target is not None:
            self.target.release()
        self.target = OffscreenTarget(self.main.ctx, width, height)
        texture = self.target.texture
        # the same GL texture, seen from the output context (the contexts share objects)
        self._shared = self.ctx.external_texture(texture.glo, texture.size, texture.components, 0, "f1")
        self._shared.filter = (moderngl.NEAREST, moderngl.NEAREST)

    def toggle_fullscreen(self) -> None:
        monitors = glfw.get_monitors()
        if self.fullscreen:
            x, y, w, h = self.windowed_rect
            glfw.set_window_monitor(self.handle, None, x, y, w, h, 0)
        else:
            self.windowed_rect = (*glfw.get_window_pos(self.handle), *glfw.get_window_size(self.handle))
            index = self.monitor_index if self.monitor_index is not None and self.monitor_index < len(monitors) \
                else len(monitors) - 1
            monitor = monitors[index]
            mode = glfw.get_video_mode(monitor)
            glfw.set_window_monitor(self.handle, monitor, 0, 0, mode.size.width, mode.size.height,
                                    mode.refresh_rate)
        self.fullscreen = not self.fullscreen

    def _watch_monitors(self) -> None:
        now = time.monotonic()
        if now < self._next_poll:
            return
        self._next_poll = now + MONITOR_POLL_S
        count = len(glfw.get_monitors())
        if count == self._monitor_count:
            return
        gone = count < self._monitor_count
        self._monitor_count = count
        self.message = f"a monitor was {'unplugged' if gone else 'plugged in'}: {count} now"
        if self.monitor_index is None or self.monitor_index == 0:
            return
        if gone and self.monitor_index >= count and not self._displaced:
            if self.fullscreen:
                self.toggle_fullscreen()
            glfw.set_window_attrib(self.handle, glfw.DECORATED, True)
            glfw.set_window_monitor(self.handle, None, 40, 40, *WINDOWED_SIZE, 0)
            self._displaced = True
            self.message += "; the output window moved to the panel's monitor"
        elif not gone and self.monitor_index < count and self._displaced:
            target = glfw.get_monitors()[self.monitor_index]
            mode = glfw.get_video_mode(target)
            glfw.set_window_attrib(self.handle, glfw.DECORATED, False)
            glfw.set_window_monitor(self.handle, None, *glfw.get_monitor_pos(target), mode.size.width,
                                    mode.size.height, 0)
            self._displaced = False
            self.message += f"; the output window is on monitor {self.monitor_index}"

    def close(self, message: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.message = message
        if self.target is not None:
            self.target.release()
        glfw.make_context_current(self.handle)
        try:
            self.vao.release()
            self.program.release()
        finally:
            glfw.make_context_current(self.main.handle)
        glfw.destroy_window(self.handle)
