"""``hypnagogia info``: versions, GL renderer, torch device, cameras and models found."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from app.commands.args import add_device
from app.errors import UserError

PACKAGES = ("torch", "numpy", "moderngl", "glfw", "imgui-bundle", "opencv-python", "av", "safetensors")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def register(sub) -> None:
    info = sub.add_parser("info", help="versions, OpenGL renderer, torch device, cameras and models found")
    add_device(info)
    info.set_defaults(run=run, assignments=[])


def run(args) -> int:
    import torch

    from app import __version__
    from app.gl.context import describe, headless_backend, headless_context
    from app.gl.transfer_choice import pick_transfer
    from app.loop.device import pick_device
    from app.models.checkpoint import model_cards
    from app.resources import model_dirs
    from app.sources.webcam import find_cameras

    print(f"hypnagogia {__version__} — Python {platform.python_version()} on {platform.platform()}")
    for package in PACKAGES:
        print(f"  {package:<14} {_version(package)}")
    try:
        device = pick_device(args.device)
        detail = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
        print(f"torch device: {device} ({detail})")
    except UserError as e:
        device = torch.device("cpu")
        print(f"torch device: {e}")
    backend = headless_backend()[1]
    try:
        ctx = headless_context()
        print(f"OpenGL (headless {backend}): {describe(ctx)}")
        transfer, why = pick_transfer(ctx, device)
        transfer.release()
        print(f"tensor ↔ texture: {why}")
        ctx.release()
    except UserError as e:
        print(f"OpenGL (headless {backend}): unavailable — {e}")
    found = find_cameras()
    print("cameras: " + (", ".join(found) if found else "none found (the live window falls back to the sample clip)"))
    cards = model_cards()
    print("model folders: " + ", then ".join(str(folder) for folder in model_dirs()))
    print("models:" + ("" if cards else " none found (train one with `hypnagogia train ae`)"))
    for name, card in cards.items():
        if "error" in card:
            print(f"  {name}: unreadable — {card['error']}")
            continue
        arch = card.get("architecture", {})
        widths = arch.get("config", {}).get("widths") or arch.get("config", {}).get("layer_shapes", [])
        psnr = card.get("validation", {}).get("psnr_db")
        extra = f", validation PSNR {psnr:.1f} dB" if isinstance(psnr, (int, float)) else ""
        if isinstance(card.get("steps"), int):            # a model trained online records its steps
            extra += f", {card['steps']:,} steps, frame error {card.get('final_error', ['?'])[0]}"
        print(f"  {name}: {arch.get('kind', '?')} {'-'.join(map(str, widths))}{extra}")
    sys.stdout.flush()
    return 0
