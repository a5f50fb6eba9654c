"""The loop on a CUDA GPU: the interop path against host copies, CUDA graphs against eager steps.
Skipped where torch sees no CUDA GPU (the GPU benchmark, scripts/gpu_benchmark.py, runs these)."""

import pytest
import torch

from app.loop.engine import Engine
from app.gl.interop import try_interop
from app.gl.host_transfer import HostTransfer
from app.models.checkpoint import load
from app.params import make_registry
from app.sources import open_source

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
STEPS, SIZE = 3, 256         # few steps: a dream amplifies rounding differences
DEFAULT_MODELS = ("ae-tiny-smooth", "ae-smooth-256")     # the CPU's and a GPU's default


def run(gl, model, transfer=None, **registry_values):
    registry = make_registry()
    engine = Engine(gl, registry, load(model, "cuda"), open_source("sample", SIZE), SIZE, "cuda", seed=3)
    if transfer is not None:
        engine.transfer.release()
        engine.transfer = transfer
        engine.generator.manual_seed(3)          # the same start as with the transfer picked at start
        engine.reset()
    registry.set("dream", 0.5)
    for name, value in registry_values.items():
        registry.set(name, value)
    records = [engine.step() for _ in range(STEPS)]
    return engine, records


def test_interop_round_trip_is_exact(gl):
    transfer, why = try_interop(gl, torch.device("cuda"))
    assert transfer is not None, why
    texture = gl.texture((64, 32), 4, dtype="f4")
    for _ in range(3):                  # sessions in a row reuse the registered textures
        data = torch.rand(32, 64, 4, device="cuda")
        transfer.upload(texture, data)
        assert torch.equal(transfer.download(texture), data)
        assert torch.equal(HostTransfer().download(texture, "cuda"), data)
    narrow = torch.rand(32, 64, 3, device="cuda")       # fewer channels than the texture: the rest are 0
    transfer.upload(texture, narrow)
    back = HostTransfer().download(texture, "cuda")
    assert torch.equal(back[..., :3], narrow) and not back[..., 3].any()
    transfer.release()


@pytest.mark.parametrize("model", DEFAULT_MODELS)
def test_interop_and_host_paths_give_the_same_frames(gl, model):
    fast, _ = run(gl, model)
    assert fast.transfer.name == "cuda-gl interop", fast.transfer_path
    slow, _ = run(gl, model, HostTransfer())
    assert torch.allclose(fast.last_prediction, slow.last_prediction, atol=1e-4)
    for a, b in zip(fast.states, slow.states):
        assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("model", DEFAULT_MODELS)
def test_graphed_and_eager_drives_agree(gl, model):
    graphed, records = run(gl, model)
    assert graphed.graphed
    eager, _ = run(gl, model, inertia=1e-30)     # any inertia takes the eager path
    assert not eager.graphed
    assert torch.allclose(graphed.last_prediction, eager.last_prediction, atol=1e-4)
    assert all(r.finite for r in records) and records[-1].error >= 0


def test_a_16_bit_step_stays_close_to_fp32(gl):
    """fp16 runs the model and the hand-over textures in 16 bits; one step from the same start
    differs from fp32 by about the model's own fp16 error."""
    predictions = {}
    for precision in ("fp32", "fp16"):
        registry = make_registry()
        engine = Engine(gl, registry, load("ae-tiny-smooth", "cuda"), open_source("sample", SIZE), SIZE, "cuda", seed=3,
                        precision=precision)
        assert engine.mixer.state.dtype == ("f2" if precision == "fp16" else "f4")
        registry.set("dream", 0.5)
        engine.step()
        predictions[precision] = engine.last_prediction
    assert (predictions["fp16"] - predictions["fp32"]).abs().max() < 5e-3


@pytest.mark.parametrize("streams", [1, 4])
def test_pvm_graphs_replay_what_eager_steps_do(streams):
    """A PVM's captured steps (learning through a fold of the momentum ring, reading a mix, showing its
    images; or several streams) against the same steps run eagerly."""
    from app.models.pvm.model import PVM
    from app.models.pvm.spec import load_spec
    spec = load_spec("pvm-small")
    graphed, eager = (PVM(spec, "cuda", seed=0, cuda_graphs=flag, streams=streams) for flag in (True, False))
    for model in (graphed, eager):
        model.learning_rate = spec.initial_learning_rate
    g = torch.Generator().manual_seed(0)
    batch = (streams,) if streams > 1 else ()
    frames = torch.rand(graphed.history + 8, *batch, 3, spec.frame_size, spec.frame_size, generator=g).cuda()
    sides = {layer: spec.layer_shapes[layer - 1] * spec.hidden_block_size for layer in range(1, spec.n_layers)}
    for t, frame in enumerate(frames):
        mix = {layer: torch.rand(side, side, device="cuda") for layer, side in sides.items()} \
            if streams == 1 and t % 2 else None
        a = graphed.step(frame, layer_inputs=mix, images=streams == 1)
        b = eager.step(frame, layer_inputs=mix)
        torch.testing.assert_close(a.predicted_frame, b.predicted_frame, atol=1e-5, rtol=0)
        torch.testing.assert_close(a.stream_errors, b.stream_errors, atol=1e-6, rtol=0)
        if streams == 1:
            for x, y in zip(a.hidden + a.next_prediction, b.hidden + b.next_prediction):
                torch.testing.assert_close(x, y, atol=1e-5, rtol=0)
    assert len(graphed._graphs) == (2 if streams == 1 else 1)    # a graph per kind of step: plain, mixed
    for x, y in zip(graphed.input_weights(), eager.input_weights()):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=0)
