"""Tensor↔texture copies that stay on the GPU: CUDA-GL interop through ``cuda.bindings.runtime``.

Each texture is registered with CUDA once. ``mapped(read, write)`` maps a set of textures with one
call and unmaps them with one call at the end; in between, copies run on torch's current stream
(device to device, no host round trip) and so can any CUDA work. Mapping orders CUDA after the GL
work that wrote the textures, unmapping orders later GL work after CUDA's, so neither side waits
on the host — but each map/unmap pair costs about 0.33 ms in the driver on an H100, whatever the
textures, so the loop maps everything a step needs once per step.

Interop takes 1-, 2- and 4-component float textures, 32- or 16-bit, of the tensor's size (GL has no
3-component layout that CUDA can map) and (H, W, C) tensors on the GL context's GPU.
"""

from __future__ import annotations

import ctypes
from contextlib import contextmanager

import moderngl
import torch

from app.gl.transfer import TORCH_DTYPES

GL_TEXTURE_2D = 0x0DE1


class InteropUnavailable(RuntimeError):
    pass


def _runtime():
    try:
        from cuda.bindings import runtime
    except ImportError:
        raise InteropUnavailable("cuda.bindings is not installed (pip install cuda-python)") from None
    return runtime


def _check(result, what: str):
    err, *rest = result
    if int(err) != 0:
        raise InteropUnavailable(f"{what} failed ({getattr(err, 'name', err)})")
    return rest[0] if len(rest) == 1 else rest


class MappedTextures:
    """Copies between torch and textures that are mapped for CUDA."""

    def __init__(self, transfer: CudaGLTransfer, arrays: dict, stream: int):
        self._transfer, self._arrays, self._stream = transfer, arrays, stream

    def write(self, texture: moderngl.Texture, tensor: torch.Tensor) -> None:
        """Write an (H, W, C) float tensor into the texture (C ≤ its components)."""
        rt = self._transfer.rt
        tensor = self._transfer.fit(texture, tensor)
        width, height = texture.size
        row = width * texture.components * tensor.element_size()
        _check(rt.cudaMemcpy2DToArrayAsync(self._arrays[texture], 0, 0, tensor.data_ptr(), row, row, height,
                                           rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice, self._stream),
               "copying into a texture")

    def view(self, texture: moderngl.Texture, out: torch.Tensor | None = None) -> torch.Tensor:
        """The texture's content as a (H, W, components) tensor of its dtype: ``out`` if given, else
        one the transfer keeps for the texture (reused by later sessions)."""
        out = self._transfer.staging(texture) if out is None else out
        self.read(texture, out)
        return out

    def read(self, texture: moderngl.Texture, out: torch.Tensor) -> None:
        """Read the texture into a preallocated contiguous (H, W, components) tensor of its dtype."""
        rt = self._transfer.rt
        if not out.is_contiguous() or out.dtype != TORCH_DTYPES[texture.dtype] or out.device != self._transfer.device:
            raise ValueError("interop reads need contiguous tensors of the texture's dtype on the GL's GPU")
        width, height = texture.size
        row = width * texture.components * out.element_size()
        _check(rt.cudaMemcpy2DFromArrayAsync(out.data_ptr(), row, self._arrays[texture], 0, 0, row, height,
                                             rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice, self._stream),
               "copying from a texture")


class CudaGLTransfer:
    name = "cuda-gl interop"

    def __init__(self, device: torch.device):
        self.rt = _runtime()
        self.device = torch.device("cuda", torch.cuda.current_device() if device.index is None else device.index)
        self._resources: dict[moderngl.Texture, object] = {}
        self._staging: dict[moderngl.Texture, torch.Tensor] = {}

    def staging(self, texture: moderngl.Texture) -> torch.Tensor:
        """A tensor of the texture's shape, kept for reading it into."""
        out = self._staging.get(texture)
        if out is None:
            width, height = texture.size
            out = torch.empty((height, width, texture.components), dtype=TORCH_DTYPES[texture.dtype],
                              device=self.device)
            self._staging[texture] = out
        return out

    @contextmanager
    def mapped(self, read=(), write=()):
        """Map the textures to ``read`` and to ``write`` for the duration of the block; yields a
        ``MappedTextures``. GL must not touch them inside the block."""
        rt = self.rt
        textures = list(dict.fromkeys((*read, *write)))
        resources = [self._resource(tex) for tex in textures]
        # several resources go to the binding as the address of an array of their handles
        handle_array = (ctypes.c_void_p * len(resources))(*(int(r) for r in resources))
        handles = resources[0] if len(resources) == 1 else ctypes.addressof(handle_array)
        stream = torch.cuda.current_stream(self.device).cuda_stream
        _check(rt.cudaGraphicsMapResources(len(resources), handles, stream), "mapping GL textures")
        try:
            arrays = {tex: _check(rt.cudaGraphicsSubResourceGetMappedArray(res, 0, 0), "getting a mapped array")
                      for tex, res in zip(textures, resources)}
            yield MappedTextures(self, arrays, stream)
        finally:
            _check(rt.cudaGraphicsUnmapResources(len(resources), handles, stream), "unmapping GL textures")

    # ---- one-off copies ----------------------------------------------------------------------
    def upload(self, texture: moderngl.Texture, tensor: torch.Tensor) -> None:
        self.upload_many([(texture, tensor)])

    def download(self, texture: moderngl.Texture, device: torch.device | str | None = None) -> torch.Tensor:
        """The texture as a (H, W, components) float32 tensor."""
        width, height = texture.size
        out = torch.empty((height, width, texture.components), dtype=TORCH_DTYPES[texture.dtype], device=self.device)
        self.download_many([(texture, out)])
        return out.to(device or self.device, torch.float32)

    def upload_many(self, pairs: list[tuple[moderngl.Texture, torch.Tensor]]) -> None:
        with self.mapped(write=[tex for tex, _ in pairs]) as m:
            for texture, tensor in pairs:
                m.write(texture, tensor)

    def download_many(self, pairs: list[tuple[moderngl.Texture, torch.Tensor]]) -> None:
        with self.mapped(read=[tex for tex, _ in pairs]) as m:
            for texture, out in pairs:
                m.read(texture, out)

    def forget(self, texture: moderngl.Texture) -> None:
        """Unregister a texture before it is released."""
        self._staging.pop(texture, None)
        resource = self._resources.pop(texture, None)
        if resource is not None:
            self.rt.cudaGraphicsUnregisterResource(resource)

    def release(self) -> None:
        for texture in list(self._resources):
            self.forget(texture)

    # ---- internals ---------------------------------------------------------------------------
    def fit(self, texture: moderngl.Texture, tensor: torch.Tensor) -> torch.Tensor:
        """The tensor as the texture's contiguous (H, W, components), in its dtype, zero-padded channels."""
        width, height = texture.size
        tensor = tensor.detach()
        if tensor.shape[-1] != texture.components:
            pad = texture.components - tensor.shape[-1]
            tensor = torch.cat([tensor, tensor.new_zeros((*tensor.shape[:-1], pad))], -1)
        if tuple(tensor.shape) != (height, width, texture.components):
            raise ValueError(f"tensor {tuple(tensor.shape)} does not fit texture {width}x{height}x{texture.components}")
        return tensor.to(self.device, TORCH_DTYPES[texture.dtype]).contiguous()

    def _resource(self, texture: moderngl.Texture):
        resource = self._resources.get(texture)
        if resource is None:
            if texture.components == 3 or texture.dtype not in TORCH_DTYPES:
                raise InteropUnavailable(f"a {texture.components}-component {texture.dtype} texture cannot be "
                                         f"mapped; use 1, 2 or 4 float components (f4 or f2)")
            flags = self.rt.cudaGraphicsRegisterFlags.cudaGraphicsRegisterFlagsNone
            resource = _check(self.rt.cudaGraphicsGLRegisterImage(texture.glo, GL_TEXTURE_2D, flags),
                              "registering a GL texture with CUDA")
            self._resources[texture] = resource
        return resource


def try_interop(ctx: moderngl.Context, device: torch.device) -> tuple[CudaGLTransfer | None, str]:
    """The interop transfer if it works here (checked with a round trip through a small texture),
    else None; and a line saying which path the loop takes and why."""
    if device.type != "cuda":
        return None, "host copies (torch runs on the CPU)"
    try:
        transfer = CudaGLTransfer(device)
        probe = ctx.texture((8, 4), 4, dtype="f4")
        try:
            data = torch.arange(8 * 4 * 4, dtype=torch.float32, device=device).reshape(4, 8, 4)
            transfer.upload(probe, data)
            back = transfer.download(probe)
            ok = torch.equal(back, data)
        finally:
            transfer.forget(probe)
            probe.release()
    except Exception as e:      # any failure of a driver or binding here means: use host copies
        return None, f"host copies (CUDA-GL interop unavailable: {str(e).splitlines()[0][:160]})"
    if not ok:
        return None, "host copies (CUDA-GL interop returned wrong data on this driver)"
    return transfer, "CUDA-GL interop (zero-copy)"
