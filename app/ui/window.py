"""The GLFW window with its OpenGL context and Dear ImGui's native GLFW + OpenGL 3 backends."""

from __future__ import annotations

import ctypes
from pathlib import Path

import imgui_bundle
from imgui_bundle import imgui, implot  # before glfw: makes pyGLFW use imgui_bundle's libglfw
import glfw
import moderngl

from app.errors import UserError


# ImGui's own font has ASCII alone; this one, shipped with imgui-bundle, also has ×, →, … and the like
FONT = Path(imgui_bundle.__file__).parent / "assets" / "fonts" / "Inconsolata-Medium.ttf"
FONT_SIZE = 14.0


class Window:
    def __init__(self, title: str, width: int, height: int, fullscreen: bool = False, vsync: bool = True):
        errors: list[str] = []
        glfw.set_error_callback(lambda code, text: errors.append(text.decode() if isinstance(text, bytes) else text))
        if not glfw.init():
            raise UserError(f"cannot open a window ({errors[-1] if errors else 'GLFW failed to start'}); is a "
                            f"display available (DISPLAY/WAYLAND_DISPLAY)? `hypnagogia record` renders headless")
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        self.windowed_rect = (100, 100, width, height)
        self.handle = glfw.create_window(width, height, title, None, None)
        if not self.handle:
            glfw.terminate()
            raise UserError(f"cannot open an OpenGL 3.3 window ({errors[-1] if errors else 'unknown reason'}); "
                            f"update the graphics driver, or use `hypnagogia record` to render headless")
        glfw.make_context_current(self.handle)
        glfw.swap_interval(1 if vsync else 0)
        self.ctx = moderngl.create_context(require=330)
        imgui.create_context()
        implot.create_context()
        io = imgui.get_io()
        io.config_flags |= imgui.ConfigFlags_.nav_enable_keyboard
        io.set_ini_filename("")
        if FONT.exists():
            io.fonts.add_font_from_file_ttf(str(FONT), FONT_SIZE)
        imgui.style_colors_dark()
        address = ctypes.cast(self.handle, ctypes.c_void_p).value
        imgui.backends.glfw_init_for_opengl(address, True)
        imgui.backends.opengl3_init("#version 330")
        self.fullscreen = False
        if fullscreen:
            self.toggle_fullscreen()

    @property
    def should_close(self) -> bool:
        return glfw.window_should_close(self.handle)

    def close(self) -> None:
        glfw.set_window_should_close(self.handle, True)

    def framebuffer_size(self) -> tuple[int, int]:
        return glfw.get_framebuffer_size(self.handle)

    def content_scale(self) -> float:
        """Framebuffer pixels per window coordinate (mouse positions are in window coordinates)."""
        fw, _ = glfw.get_framebuffer_size(self.handle)
        ww, _ = glfw.get_window_size(self.handle)
        return fw / ww if ww else 1.0

    def begin_frame(self) -> None:
        glfw.poll_events()
        imgui.backends.opengl3_new_frame()
        imgui.backends.glfw_new_frame()
        imgui.new_frame()

    def end_frame(self) -> None:
        imgui.render()
        imgui.backends.opengl3_render_draw_data(imgui.get_draw_data())
        glfw.swap_buffers(self.handle)

    def toggle_fullscreen(self) -> None:
        if self.fullscreen:
            x, y, w, h = self.windowed_rect
            glfw.set_window_monitor(self.handle, None, x, y, w, h, 0)
        else:
            x, y = glfw.get_window_pos(self.handle)
            w, h = glfw.get_window_size(self.handle)
            self.windowed_rect = (x, y, w, h)
            monitor = glfw.get_primary_monitor()
            mode = glfw.get_video_mode(monitor)
            glfw.set_window_monitor(self.handle, monitor, 0, 0, mode.size.width, mode.size.height,
                                    mode.refresh_rate)
        self.fullscreen = not self.fullscreen

    def shutdown(self) -> None:
        imgui.backends.opengl3_shutdown()
        imgui.backends.glfw_shutdown()
        implot.destroy_context()
        imgui.destroy_context()
        glfw.destroy_window(self.handle)
        glfw.terminate()
