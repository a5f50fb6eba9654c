"""A training run's state on disk in files no larger than a limit, so that a run folder can be carried
between machines in pieces of a bounded size.

A set of tensors called NAME (``state``, ``state.streams``) is written to one file, ``NAME.safetensors``,
when it fits in ``limit`` bytes; otherwise to shards ``NAME-00001-of-0000N.safetensors``, tensor by
tensor in order, each at most ``limit`` bytes, with an index ``NAME.index.json`` that says which shard
holds which tensor, every tensor's shape, and the metadata. A tensor larger than a shard is split
along dimension 0 (a tensor whose every row is larger still, along its flattened elements) into
pieces ``KEY@0``, ``KEY@1`` …, the first filling what the shard before it has left, that join again
on reading. Every file goes to a temporary name first
and is moved into place (``os.replace``): the shards first, the index last, and a shard carries the
token of its index, so that shards of two snapshots are never read as one. Files of an earlier
snapshot of NAME that the new one does not use are removed after it.

``save_run_state`` / ``load_run_state`` write and read a PVM run's state this way: the model's
``state_dict`` (its card in the metadata, and beside it as ``state.json``), and with several streams
their ``streams_state`` as ``state.streams``. A one-file state is a checkpoint like any other.
"""

from __future__ import annotations

import glob
import json
import os
import re
import uuid
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file

from app.errors import UserError
from app.models import checkpoint

SHARD_LIMIT = 15_000_000           # bytes per file: under the 16 MiB a file a GPU session carries back
HEADER_ROOM = 1 << 16              # bytes kept free in a shard for its safetensors header
STATE, STREAMS = "state", "state.streams"
FORMAT = "hypnagogia state shards 1"
SHARD = re.compile(r"(?P<name>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.safetensors")


# ------------------------------------------------------------------------------------------- writing
def write_tensors(folder: Path, name: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str],
                  limit: int) -> list[Path]:
    """Writes ``tensors`` as NAME in ``folder``: one file if it fits in ``limit`` bytes, else shards and an
    index. Returns the files written."""
    if limit <= HEADER_ROOM:
        raise ValueError(f"a shard limit must exceed {HEADER_ROOM} bytes, got {limit}")
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    folder.mkdir(parents=True, exist_ok=True)
    if sum(t.nbytes for t in tensors.values()) + HEADER_ROOM + len(json.dumps(metadata)) <= limit:
        written = [_replace_with(folder / f"{name}.safetensors", lambda tmp: save_file(tensors, tmp, metadata))]
    else:
        written = _write_shards(folder, name, tensors, metadata, limit)
    _remove_others(folder, name, keep=set(written))
    return written


def _write_shards(folder: Path, name: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str],
                  limit: int) -> list[Path]:
    budget = limit - HEADER_ROOM
    entries, shards = {}, [{}]
    room = budget
    for key, tensor in tensors.items():
        if tensor.nbytes <= budget:             # whole, in this shard or the next
            if tensor.nbytes > room:
                shards.append({})
                room = budget
            shards[-1][key] = tensor
            room -= tensor.nbytes
            entries[key] = {"shape": list(tensor.shape), "parts": [key]}
            continue
        # larger than a shard: rows along dim 0 (flat elements where one row is larger still) fill the
        # room left in this shard, then whole shards; a copy each, for pieces must not share storage
        rows = tensor if tensor.nbytes // tensor.shape[0] <= budget else tensor.reshape(-1)
        row_bytes, start, parts = rows.nbytes // rows.shape[0], 0, []
        while start < rows.shape[0]:
            if room < row_bytes:
                shards.append({})
                room = budget
            count = min(room // row_bytes, rows.shape[0] - start)
            part = f"{key}@{len(parts)}"
            shards[-1][part] = rows[start:start + count].clone()
            parts.append(part)
            room -= count * row_bytes
            start += count
        entries[key] = {"shape": list(tensor.shape), "parts": parts}
    token = uuid.uuid4().hex
    names = [f"{name}-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    temporary = [folder / f".{file}.{os.getpid()}.tmp" for file in names]
    try:
        for tmp, shard in zip(temporary, shards):
            save_file(shard, str(tmp), {"token": token})
        for tmp, file in zip(temporary, names):        # all written: the renames take moments
            os.replace(tmp, folder / file)
    finally:
        for tmp in temporary:
            tmp.unlink(missing_ok=True)
    index = {"format": FORMAT, "token": token, "metadata": metadata, "shards": names,
             "tensors": entries, "weight_map": {part: file for file, shard in zip(names, shards) for part in shard}}
    path = _replace_with(folder / f"{name}.index.json",
                         lambda tmp: Path(tmp).write_text(json.dumps(index, indent=1) + "\n"))
    return [*(folder / file for file in names), path]


def _replace_with(path: Path, write) -> Path:
    """``write(temporary path)``, then the temporary file moved onto ``path`` in one step."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _remove_others(folder: Path, name: str, keep: set[Path]) -> None:
    """Removes NAME's files of another snapshot: its single file, index or shards not in ``keep``."""
    candidates = [folder / f"{name}.safetensors", folder / f"{name}.index.json"]
    candidates += [p for p in folder.glob(f"{glob.escape(name)}-*-of-*.safetensors")
                   if (m := SHARD.fullmatch(p.name)) and m["name"] == name]
    for path in candidates:
        if path not in keep:
            path.unlink(missing_ok=True)


def remove(folder: Path, name: str) -> None:
    _remove_others(folder, name, keep=set())


# ------------------------------------------------------------------------------------------- reading
def locate(path: Path) -> tuple[Path, str] | None:
    """(folder, NAME) of a run folder (NAME ``state``), an index, a shard or a one-file state; None
    for any other path."""
    if path.is_dir():
        return path, STATE
    if (m := SHARD.fullmatch(path.name)) is not None:
        return path.parent, m["name"]
    if path.name.endswith(".index.json"):
        return path.parent, path.name.removesuffix(".index.json")
    if path.suffix == ".safetensors":
        return path.parent, path.name.removesuffix(".safetensors")
    return None


def stored_as(folder: Path, name: str) -> Path | None:
    """NAME's file in ``folder``: its index or its single file, the newer where both are left (a
    snapshot was interrupted while it removed the other); None where it has neither."""
    found = [p for p in (folder / f"{name}.index.json", folder / f"{name}.safetensors") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def read_index(path: Path) -> dict:
    """An index, checked: every shard it names is there and belongs to it."""
    try:
        index = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path} is not the index of a sharded state ({e}); pass the run folder or a state "
                        f"written by `hypnagogia train pvm`") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise UserError(f"{path} is not the index of a sharded state; pass the run folder or a state written "
                        f"by `hypnagogia train pvm`")
    shards = index["shards"]
    for file in shards:
        shard = path.parent / file
        if not shard.is_file():
            raise UserError(f"shard {file} of {path.name} is missing from {path.parent} ({len(shards)} shards in "
                            f"all); copy it back beside the index to resume")
        try:
            with safe_open(str(shard), framework="pt") as f:
                token = (f.metadata() or {}).get("token")
        except (SafetensorError, OSError, ValueError) as e:
            raise UserError(f"shard {shard} is damaged ({str(e).strip()[:120]}); copy it again") from None
        if token != index["token"]:
            raise UserError(f"shard {file} in {path.parent} belongs to another snapshot than {path.name} beside it; "
                            f"copy the index and the shards of one snapshot together")
    return index


def read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a one-file state or of an index's shards."""
    if path.name.endswith(".index.json"):
        index = read_index(path)
        parts: dict[str, torch.Tensor] = {}
        for file in index["shards"]:
            with safe_open(str(path.parent / file), framework="pt") as f:
                parts.update({k: f.get_tensor(k) for k in f.keys()})
        tensors = {key: torch.cat([parts[p] for p in entry["parts"]]).reshape(entry["shape"])
                   if len(entry["parts"]) > 1 else parts[entry["parts"][0]]
                   for key, entry in index["tensors"].items()}
        return tensors, index["metadata"]
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a state written by hypnagogia ({str(e).strip()[:120]}); copy it "
                        f"again") from None


# ------------------------------------------------------------------------------------ a PVM's run state
def save_run_state(model, folder: Path, card: dict, limit: int | None = None) -> list[Path]:
    """A PVM's full state (and its streams') in ``folder``, in files of at most ``limit`` bytes
    (default SHARD_LIMIT), with its card beside as ``state.json``. Returns the files written."""
    limit = SHARD_LIMIT if limit is None else limit
    card = {"name": STATE, **card, "architecture": checkpoint.architecture_of(model)}
    tensors = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    written = write_tensors(folder, STATE, tensors, {"card": json.dumps(card)}, limit)
    if model.streams > 1:
        written += write_tensors(folder, STREAMS, model.streams_state(), {}, limit)
    else:
        remove(folder, STREAMS)
    written.append(_replace_with(folder / f"{STATE}.json", lambda tmp: Path(tmp).write_text(
        json.dumps(card, indent=2) + "\n")))
    return written


def load_run_state(name_or_path: str, device: torch.device | str) -> checkpoint.LoadedModel:
    """A PVM run's state from its folder, its index, any of its shards or its one file, or any model
    (a name or a .safetensors path); ``LoadedModel.path`` is the file read (the index, if sharded)."""
    located = locate(Path(name_or_path).expanduser())
    if located is None or not Path(name_or_path).expanduser().exists():
        return checkpoint.load(name_or_path, device)
    folder, name = located
    name = name.removesuffix(".streams")              # a shard of the streams resumes their run
    path = stored_as(folder, name)
    if path is None:
        raise UserError(f"--resume {name_or_path}: no {name}.safetensors or {name}.index.json in {folder}; pass a "
                        f"run folder of `hypnagogia train pvm` (RUNS/NAME) or a state file")
    if path.suffix == ".safetensors":
        return checkpoint.load(str(path), device)
    tensors, metadata = read_tensors(path)
    card = json.loads(metadata.get("card", "{}"))
    try:
        expected = checkpoint.expected_shapes(card)
        model = checkpoint.build(card)
    except (TypeError, ValueError, UserError) as e:
        raise UserError(f"{path}: its card describes no buildable model ({str(e)[:120]}); resume from another "
                        f"state") from None
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or [k for k in expected if found[k] != expected[k]]
        raise UserError(f"{path} does not match its card: {wrong[0]} is missing, unexpected or of another shape; "
                        f"resume from another state")
    model.load_state_dict(tensors)
    model.eval().requires_grad_(False).to(device)
    return checkpoint.LoadedModel(name=name, path=path, card=card, model=model)


def load_streams(state: Path) -> tuple[Path, dict[str, torch.Tensor]] | None:
    """The streams' state beside a run's state (its one file or index), or None where it has none."""
    path = stored_as(state.parent, STREAMS) if locate(state) == (state.parent, STATE) else None
    return None if path is None else (path, read_tensors(path)[0])
