"""Checkpoints: safetensors weights plus a JSON card.

``models/NAME.safetensors`` holds the weights (with the card embedded in its metadata, so a lone
file still loads) and ``models/NAME.json`` is the card people read: architecture, data, steps,
losses and the command that reproduces it. Loading checks the card's values (each kind's config
refuses values out of its sane range) and that the weights' shapes, read from the file's header,
are the ones the card's architecture needs, before the model is built or a weight is read; every
failure is a one-line ``UserError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file, safe_open

from app.resources import MODEL_DIR
from app.errors import UserError
from app.models.base import DreamingModel, ModelKind
from app.models.kinds import all_kinds, get_kind


@dataclass
class LoadedModel:
    name: str
    path: Path
    card: dict
    model: torch.nn.Module          # as trained and saved; ``runtime()`` is what the loop runs

    @property
    def kind(self) -> ModelKind:
        return get_kind(self.card["architecture"]["kind"])

    def runtime(self) -> DreamingModel:
        return self.kind.runtime(self.model)

    @property
    def defaults(self) -> dict:
        """The parameter values this model runs with unless told otherwise: its kind's, then its card's
        ``defaults`` (e.g. the calm ↔ wild its dreams were tuned at)."""
        card = self.card.get("defaults", {})
        if not isinstance(card, dict):
            raise UserError(f"{self.name}: the card's defaults must be a JSON object of parameter values, got "
                            f"{card!r:.60}; fix or remove it in {self.path.with_suffix('.json')}")
        return {**self.kind.mode_defaults, **card}


def _architecture(card: dict) -> tuple[ModelKind, dict]:
    arch = card.get("architecture")
    kinds = all_kinds()
    if not isinstance(arch, dict) or not isinstance(arch.get("kind"), str) or arch["kind"] not in kinds:
        raise ValueError(f"card has no known architecture.kind (known: {', '.join(kinds)})")
    config = arch.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"architecture.config must be a JSON object of settings, got {config!r:.60}")
    return kinds[arch["kind"]], config


def build(card: dict) -> torch.nn.Module:
    kind, config = _architecture(card)
    return kind.build(config)


def expected_shapes(card: dict) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor a checkpoint of ``card`` holds, from the card alone and allocating
    nothing: the kind's ``state_shapes``, or the model built on torch's meta device (a kind whose
    model cannot be built there is built for real)."""
    kind, config = _architecture(card)
    exported = bool(card.get("exported"))
    if kind.state_shapes is not None:
        return {k: tuple(v) for k, v in kind.state_shapes(config, exported).items()}
    try:
        with torch.device("meta"):
            model = kind.build(config)
    except (NotImplementedError, RuntimeError):
        model = kind.build(config)
    state = model.export_state() if exported and hasattr(model, "export_state") else model.state_dict()
    return {k: tuple(v.shape) for k, v in state.items()}


def stored_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor in a safetensors file, from its header (no weight is read)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a hypnagogia checkpoint ({_short(e)}); pick a .safetensors file "
                        f"written by `hypnagogia train`") from None


def architecture_of(model) -> dict:
    return {"kind": model.kind, "config": model.config.to_dict()}


def save(model: torch.nn.Module, path: Path | str, card: dict | None = None, export: bool = False) -> Path:
    """Write ``path`` (.safetensors) and its card beside it (.json). ``export``: the model's compact
    form for shipping where it has one (a PVM's ``export_state``), else its full state in float32."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    exported = export and hasattr(model, "export_state")
    card = {"name": path.stem, **(card or {}), "architecture": architecture_of(model)}
    if exported:
        card["exported"] = True
    state = model.export_state() if exported else model.state_dict()
    tensors = {k: v.detach().to("cpu", v.dtype if exported or not v.is_floating_point() else torch.float32)
               .contiguous() for k, v in state.items()}
    save_file(tensors, str(path), metadata={"card": json.dumps(card)})
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return path


def resolve(name_or_path: str, model_dir: Path = MODEL_DIR) -> Path:
    """The file of a model path, or of a model name: looked up in ``model_dir`` alone, or, for the
    default ``MODEL_DIR``, in the user's models and then the shipped ones (the user's win a clash)."""
    from app.resources import model_dirs

    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".safetensors" or candidate.exists() or "/" in name_or_path:
        if not candidate.exists():
            raise UserError(f"checkpoint {name_or_path!r} not found; pass a model name from models/ "
                            f"or a path to a .safetensors file")
        return candidate
    folders = model_dirs() if Path(model_dir) == MODEL_DIR else [Path(model_dir)]
    for folder in folders:
        path = folder / f"{name_or_path}.safetensors"
        if path.exists():
            return path
    names = ", ".join(list_models(model_dir)) or "none yet; train one with `hypnagogia train ae`"
    raise UserError(f"no model named {name_or_path!r} in {' or '.join(map(str, folders))} (available: {names})")


def read_card(path: Path) -> dict:
    """The card for ``path``: the JSON beside it when there is one, else the embedded copy."""
    sidecar = path.with_suffix(".json")
    if sidecar.exists() and path.suffix == ".safetensors":
        try:
            card = json.loads(sidecar.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"model card {sidecar} is not valid JSON ({e}); fix or delete it") from None
        if not isinstance(card, dict):
            raise UserError(f"model card {sidecar} must hold a JSON object; fix or delete it")
        return card
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a hypnagogia checkpoint ({_short(e)}); pick a .safetensors "
                        f"file written by `hypnagogia train`") from None
    if "card" not in meta:
        raise UserError(f"{path} has no model card (no {sidecar.name} beside it and none embedded); "
                        f"it was not written by hypnagogia")
    return json.loads(meta["card"])


def load(name_or_path: str, device: torch.device | str = "cpu", model_dir: Path = MODEL_DIR) -> LoadedModel:
    """The model of a name or path: its card checked, then its weights' shapes against the card's
    architecture (from the file's header), and only then the model built and the weights read."""
    path = resolve(name_or_path, model_dir)
    card = read_card(path)

    def unbuildable(e: Exception) -> UserError:
        return UserError(f"model card of {path} describes no buildable model ({_short(e)}); fix the card "
                         f"or retrain")
    try:
        expected = expected_shapes(card)
    except (TypeError, ValueError, UserError) as e:
        raise unbuildable(e) from None
    _check_shapes(path, card, expected, stored_shapes(path))
    try:
        model = build(card)
    except (TypeError, ValueError, UserError) as e:
        raise unbuildable(e) from None
    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a hypnagogia checkpoint ({_short(e)}); pick a .safetensors file "
                        f"written by `hypnagogia train`") from None
    model.load_state_dict(weights)
    model.eval().requires_grad_(False).to(device)
    return LoadedModel(name=path.stem, path=path, card=card, model=model)


def _check_shapes(path: Path, card: dict, expected: dict[str, tuple[int, ...]],
                  found: dict[str, tuple[int, ...]]) -> None:
    described = _describe(card)
    missing = sorted(set(expected) - set(found))
    if missing:
        raise UserError(f"{path} does not match its card ({described}): weight {missing[0]} is missing "
                        f"({len(missing)} in all); retrain or restore the matching card")
    extra = sorted(set(found) - set(expected))
    if extra:
        raise UserError(f"{path} does not match its card ({described}): unexpected weight {extra[0]} "
                        f"({len(extra)} in all); retrain or restore the matching card")
    for key, shape in expected.items():
        if found[key] != shape:
            raise UserError(f"{path} does not match its card ({described}): {key} has shape "
                            f"{found[key]} but the card's architecture needs {shape}; retrain or restore "
                            f"the matching card")


def _describe(card: dict) -> str:
    arch = card.get("architecture", {})
    config = arch.get("config", {})
    widths = config.get("widths") or config.get("layer_shapes")
    return f"{arch.get('kind', '?')} " + ("-".join(map(str, widths)) if isinstance(widths, list) else "")


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__


def list_models(model_dir: Path = MODEL_DIR) -> list[str]:
    """The model names in ``model_dir``; for the default ``MODEL_DIR``, the user's and the shipped ones."""
    from app.resources import model_dirs

    folders = model_dirs() if Path(model_dir) == MODEL_DIR else [Path(model_dir)]
    return sorted({p.stem for folder in folders for p in folder.glob("*.safetensors")})


def model_cards(model_dir: Path = MODEL_DIR) -> dict[str, dict]:
    """Every model of ``list_models(model_dir)`` with its card (an ``error`` entry where the card is
    unreadable); a name in both the user's and the shipped models is the user's."""
    cards = {}
    for name in list_models(model_dir):
        try:
            cards[name] = read_card(resolve(name, model_dir))
        except UserError as e:
            cards[name] = {"error": str(e)}
    return cards
