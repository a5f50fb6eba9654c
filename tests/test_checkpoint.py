import json

import pytest
import torch

from app.errors import UserError
from app.models.autoencoder.model import AutoencoderConfig, ConvAutoencoder
from app.models.checkpoint import list_models, load, save


def test_round_trip_keeps_weights_and_card(tmp_path):
    torch.manual_seed(1)
    model = ConvAutoencoder(AutoencoderConfig(widths=(4, 8, 12)))
    path = save(model, tmp_path / "m.safetensors", {"description": "test"})
    loaded = load(str(path))
    assert loaded.card["description"] == "test"
    assert loaded.card["architecture"]["config"]["widths"] == [4, 8, 12]
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(loaded.model(x), model.eval()(x))
    assert list_models(tmp_path) == ["m"]


def test_the_embedded_card_is_enough(tmp_path):
    path = save(ConvAutoencoder(AutoencoderConfig(widths=(4, 8))), tmp_path / "m.safetensors")
    path.with_suffix(".json").unlink()
    assert load(str(path)).model.channels == (4, 8)


def one_line(message: str) -> bool:
    return "\n" not in message and len(message) < 400


def test_text_file_is_rejected(tmp_path):
    bad = tmp_path / "notes.safetensors"
    bad.write_text("these are my notes, not weights\n")
    with pytest.raises(UserError, match="not a hypnagogia checkpoint") as e:
        load(str(bad))
    assert one_line(str(e.value))


def test_weights_of_another_shape_are_rejected(tmp_path):
    path = save(ConvAutoencoder(AutoencoderConfig(widths=(4, 8, 12))), tmp_path / "m.safetensors")
    card = json.loads(path.with_suffix(".json").read_text())
    card["architecture"]["config"]["widths"] = [4, 8, 16]
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(UserError, match=r"does not match its card .*has shape") as e:
        load(str(path))
    assert one_line(str(e.value))


def test_missing_weights_are_named(tmp_path):
    path = save(ConvAutoencoder(AutoencoderConfig(widths=(4, 8, 12))), tmp_path / "m.safetensors")
    card = json.loads(path.with_suffix(".json").read_text())
    card["architecture"]["config"]["widths"] = [4, 8, 12, 16]
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(UserError, match="is missing"):
        load(str(path))


def test_unknown_names_list_what_exists(tmp_path):
    save(ConvAutoencoder(AutoencoderConfig(widths=(4,))), tmp_path / "only.safetensors")
    with pytest.raises(UserError, match=r"no model named 'nope' .*available: only"):
        load("nope", model_dir=tmp_path)


def test_corrupt_card_is_reported(tmp_path):
    path = save(ConvAutoencoder(AutoencoderConfig(widths=(4,))), tmp_path / "m.safetensors")
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load(str(path))


# ----------------------------------------------------------------------------- cards checked first
def card_of(path):
    return json.loads(path.with_suffix(".json").read_text())


def write_card(path, card):
    path.with_suffix(".json").write_text(json.dumps(card))


def with_config(path, **changes):
    card = card_of(path)
    card["architecture"]["config"].update(changes)
    write_card(path, card)


@pytest.fixture
def small_ae(tmp_path):
    return save(ConvAutoencoder(AutoencoderConfig(widths=(4, 8, 12))), tmp_path / "m.safetensors")


@pytest.mark.parametrize("config, needle", [
    ({"widths": [4, 8, 30000]}, "widths must be whole numbers from 1 to 1024, got 30000"),
    ({"widths": [4, 0, 12]}, "got 0"),
    ({"widths": [4, -8, 12]}, "got -8"),
    ({"widths": []}, "widths must be a list of 1 to 8 channel counts"),
    ({"widths": [4] * 9}, "widths must be a list of 1 to 8 channel counts"),
    ({"widths": "4,8,12"}, "widths must be a list"),
    ({"widths": [4, 8.5, 12]}, "got 8.5"),
    ({"widths": [4, True, 12]}, "got True"),
    ({"widths": None}, "widths must be a list"),
    ({"activation": "swish"}, "activation must be one of elu, gelu, relu, silu, got 'swish'"),
    ({"activation": ["gelu"]}, "activation must be one of"),
    ({"code_activation": 3}, "code_activation must be one of identity, tanh, got 3"),
    ({"depth": 4}, "unexpected keyword argument 'depth'"),
])
def test_a_card_value_out_of_its_range_is_one_line(small_ae, config, needle):
    with_config(small_ae, **config)
    with pytest.raises(UserError) as e:
        load(str(small_ae))
    message = str(e.value)
    assert one_line(message) and "describes no buildable model" in message and needle in message, message


@pytest.mark.parametrize("architecture, needle", [
    ({"kind": "autoencoder", "config": [4, 8]}, "architecture.config must be a JSON object"),
    ({"kind": ["autoencoder"]}, "no known architecture.kind"),
    ("autoencoder", "no known architecture.kind"),
])
def test_a_card_of_the_wrong_shape_is_one_line(small_ae, architecture, needle):
    card = card_of(small_ae)
    card["architecture"] = architecture
    write_card(small_ae, card)
    with pytest.raises(UserError, match="describes no buildable model") as e:
        load(str(small_ae))
    assert one_line(str(e.value)) and needle in str(e.value)


@pytest.mark.parametrize("change, needle", [
    ({"layer_shapes": [200, 1]}, "layer_shapes must be a non-empty list of at most 9 grid sizes from 1 to 64"),
    ({"hidden_block_size": 0}, "hidden_block_size must be a whole number from 1 to 16"),
    ({"input_block_size": 40}, "input_block_size must be a whole number from 1 to 16"),
    ({"lateral_radius": -1}, "lateral_radius must be a distance from 0 to 8"),
    ({"lateral_radius": 50}, "lateral_radius must be a distance from 0 to 8"),
    ({"momentum": "fast"}, "momentum must be a number"),
    ({"tau": 2}, "tau must be a number in [0, 1]"),
    ({"colour": True}, "unexpected keyword argument 'colour'"),
])
def test_a_pvm_card_is_checked_too(tmp_path, change, needle):
    import shutil
    from app.resources import MODEL_DIR
    for suffix in (".safetensors", ".json"):
        shutil.copy(MODEL_DIR / f"pvm-small{suffix}", tmp_path / f"pvm{suffix}")
    path = tmp_path / "pvm.safetensors"
    with_config(path, **change)
    with pytest.raises(UserError) as e:
        load(str(path))
    message = str(e.value)
    assert one_line(message) and needle in message and str(path) in message, message


def test_pvm_weights_of_another_spec_are_named(tmp_path):
    import shutil
    from app.resources import MODEL_DIR
    for suffix in (".safetensors", ".json"):
        shutil.copy(MODEL_DIR / f"pvm-small{suffix}", tmp_path / f"pvm{suffix}")
    path = tmp_path / "pvm.safetensors"
    with_config(path, hidden_block_size=7)
    with pytest.raises(UserError, match=r"does not match its card \(pvm 12-6-3-2-1\): hidden has shape \(195, 26\) "
                                        r"but the card's architecture needs \(195, 50\)") as e:
        load(str(path))
    assert one_line(str(e.value))


def test_the_pvm_shapes_without_a_model_are_the_models():
    from app.models.pvm.model import PVM, state_shapes
    from app.models.pvm.spec import PVMSpec, load_spec
    for name in ("pvm-small", "pvm-paper"):
        for two_steps in (False, True):
            spec = PVMSpec(**{**load_spec(name).to_dict(), "predict_two_steps": two_steps})
            model = PVM(spec)
            assert state_shapes(spec) == {k: tuple(v.shape) for k, v in model.state_dict().items()}
            assert state_shapes(spec, exported=True) == {k: tuple(v.shape) for k, v in model.export_state().items()}


def test_every_shipped_model_still_loads():
    from app.models.checkpoint import list_models
    for name in ("ae-tiny-smooth", "ae-smooth-256", "pvm-small", "pvm-paper"):
        assert name in list_models()
        assert load(name).name == name


MEASURE = """
import resource, sys, time
from app.errors import UserError
from app.models.checkpoint import load
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    load(sys.argv[1])
    print("loaded")
except UserError as e:
    print(e)
print(time.perf_counter() - start, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


@pytest.mark.parametrize("widths, needle", [
    ([4, 8, 30000], "got 30000"),                       # before: a 40-line traceback allocating 32 GB
    ([1024] * 8, "does not match its card"),            # in range: before, ~600 MB built, then the mismatch
])
def test_a_card_is_refused_before_anything_is_allocated(small_ae, widths, needle):
    """In a fresh process (peak memory is per process): the refusal comes quickly and the peak
    resident memory grows by almost nothing."""
    import subprocess
    import sys
    with_config(small_ae, widths=widths)
    result = subprocess.run([sys.executable, "-c", MEASURE, str(small_ae)], capture_output=True, text=True,
                            timeout=120)
    message, figures = result.stdout.strip().splitlines()
    seconds, grown_mb = (float(v) for v in figures.split())
    assert needle in message, message
    assert seconds < 5 and grown_mb < 40, f"{seconds:.2f} s, peak memory +{grown_mb:.0f} MB"
    assert "Traceback" not in result.stderr
