"""Tensor↔texture copies that stay on the GPU: CUDA-GL interop through ``cuda.bindings.runtime``.

Each texture is registered with CUDA once. A batch of copies maps all its textures with one call,
copies each on torch's current stream (device to device, no host round trip) and unmaps them with
one call; mapping orders the copies after the GL work that wrote the textures, unmapping orders
later GL work after the copies, so neither side waits on the host.

Interop takes 1-, 2- and 4-component float textures of the tensor's size (GL has no 3-component
layout that CUDA can map) and contiguous (H, W, C) float32 tensors on the GL context's GPU.
"""

from __future__ import annotations

import ctypes

import moderngl
import torch

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


class CudaGLTransfer:
    name = "cuda-gl interop"

    def __init__(self, device: torch.device):
        self.rt = _runtime()
        self.device = torch.device("cuda", torch.cuda.current_device() if device.index is None else device.index)
        self._resources: dict[moderngl.Texture, object] = {}

    # ---- the transfer protocol (see app.gl.transfer) ---------------------------------------
    def upload(self, texture: moderngl.Texture, tensor: torch.Tensor) -> None:
        self.upload_many([(texture, tensor)])

    def download(self, texture: moderngl.Texture, device: torch.device | str | None = None) -> torch.Tensor:
        width, height = texture.size
        out = torch.empty((height, width, texture.components), dtype=torch.float32, device=self.device)
        self.download_many([(texture, out)])
        return out if device is None else out.to(device)

    def upload_many(self, pairs: list[tuple[moderngl.Texture, torch.Tensor]]) -> None:
        """Write each (H, W, C) float tensor into its texture."""
        pairs = [(tex, self._fit(tex, t)) for tex, t in pairs]
        self._copy(pairs, to_texture=True)

    def download_many(self, pairs: list[tuple[moderngl.Texture, torch.Tensor]]) -> None:
        """Read each texture into its preallocated (H, W, C) float32 tensor."""
        for tex, t in pairs:
            if not t.is_contiguous() or t.dtype != torch.float32 or t.device != self.device:
                raise ValueError("interop downloads need contiguous float32 tensors on the GL's GPU")
        self._copy(pairs, to_texture=False)

    def forget(self, texture: moderngl.Texture) -> None:
        """Unregister a texture before it is released."""
        resource = self._resources.pop(texture, None)
        if resource is not None:
            self.rt.cudaGraphicsUnregisterResource(resource)

    def release(self) -> None:
        for texture in list(self._resources):
            self.forget(texture)

    # ---- internals ---------------------------------------------------------------------------
    def _fit(self, texture: moderngl.Texture, tensor: torch.Tensor) -> torch.Tensor:
        width, height = texture.size
        tensor = tensor.detach()
        if tensor.shape[-1] != texture.components:
            pad = texture.components - tensor.shape[-1]
            tensor = torch.cat([tensor, tensor.new_zeros((*tensor.shape[:-1], pad))], -1)
        if tuple(tensor.shape) != (height, width, texture.components):
            raise ValueError(f"tensor {tuple(tensor.shape)} does not fit texture {width}x{height}x{texture.components}")
        return tensor.to(self.device, torch.float32).contiguous()

    def _resource(self, texture: moderngl.Texture):
        resource = self._resources.get(texture)
        if resource is None:
            if texture.components == 3 or texture.dtype != "f4":
                raise InteropUnavailable(f"a {texture.components}-component {texture.dtype} texture cannot be "
                                         f"mapped; use 1, 2 or 4 float32 components")
            flags = self.rt.cudaGraphicsRegisterFlags.cudaGraphicsRegisterFlagsNone
            resource = _check(self.rt.cudaGraphicsGLRegisterImage(texture.glo, GL_TEXTURE_2D, flags),
                              "registering a GL texture with CUDA")
            self._resources[texture] = resource
        return resource

    def _copy(self, pairs, to_texture: bool) -> None:
        rt = self.rt
        resources = [self._resource(tex) for tex, _ in pairs]
        # several resources go to the binding as the address of an array of their handles
        handle_array = (ctypes.c_void_p * len(resources))(*(int(r) for r in resources))
        handles = resources[0] if len(resources) == 1 else ctypes.addressof(handle_array)
        stream = torch.cuda.current_stream(self.device).cuda_stream
        _check(rt.cudaGraphicsMapResources(len(resources), handles, stream), "mapping GL textures")
        try:
            device_to_device = rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice
            for (tex, tensor), resource in zip(pairs, resources):
                mapped = _check(rt.cudaGraphicsSubResourceGetMappedArray(resource, 0, 0), "getting a mapped array")
                width, height = tex.size
                row = width * tex.components * 4
                if to_texture:
                    _check(rt.cudaMemcpy2DToArrayAsync(mapped, 0, 0, tensor.data_ptr(), row, row, height,
                                                       device_to_device, stream), "copying into a texture")
                else:
                    _check(rt.cudaMemcpy2DFromArrayAsync(tensor.data_ptr(), row, mapped, 0, 0, row, height,
                                                         device_to_device, stream), "copying from a texture")
        finally:
            _check(rt.cudaGraphicsUnmapResources(len(resources), handles, stream), "unmapping GL textures")



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
