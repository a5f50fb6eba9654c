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
