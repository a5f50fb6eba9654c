"""``hypnagogia probe``: look inside one unit (or every unit of a layer) by gradient ascent on the input.

Writes the unit's preferred stimulus (PNG), its response over the ascent (PNG plot) and a JSON record;
with ``--top K`` (or ``--init top-patch``) also the K natural patches that drive it most; with ``--all``
every unit of the layer as a grid and an HTML gallery.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from app.commands.args import add_device, positive_int, positive_number, non_negative_int
from app.errors import UserError
from app.resources import runs_dir

INITS = ("zeros", "noise", "top-patch")


def register(sub) -> None:
    p = sub.add_parser("probe", help="a unit's preferred stimulus by gradient ascent on its receptive field; "
                                     "top patches; every unit of a layer")
    p.add_argument("--model", default=None, help="model name in models/ or a .safetensors path (default: the "
                   "device's default model)")
    add_device(p)
    p.add_argument("--size", type=positive_int, default=None, help="the frame size the layer's positions and "
                   "fields are given at (default 128 on the CPU, 256 on a GPU; a PVM fixes it)")
    p.add_argument("--layer", default=None, help="the layer: 1 … L as the grid view numbers them, or a place "
                   "inside one (an autoencoder's 1.conv1, 1.conv2, …); --list shows them")
    p.add_argument("--unit", type=non_negative_int, default=0, help="the unit (channel; for a PVM the hidden "
                   "neuron of the unit at --position)")
    p.add_argument("--position", default=None, metavar="X,Y", help="column and row on the layer's grid "
                   "(default its centre)")
    p.add_argument("--all", action="store_true", help="every unit of the layer at the position: a grid and an "
                   "HTML gallery")
    p.add_argument("--init", choices=INITS, default="zeros", help="the start: zeros (mid-gray, the zero of "
                   "the seed's normalised input), noise, or the top patch (shown with the patch subtracted)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="SGD without momentum (the "
                   "seed's choice) or Adam (noisier)")
    p.add_argument("--steps", type=non_negative_int, default=100, help="ascent steps (default 100)")
    p.add_argument("--lr", type=positive_number, default=0.1, help="learning rate (default 0.1)")
    p.add_argument("--top", type=non_negative_int, default=None, help="find the K patches of the bundled photos "
                   "and the sample clip that drive the unit most (default 8 with --init top-patch, else 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise start")
    p.add_argument("--list", action="store_true", help="list the model's layers and exit")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1: on a busy "
                   "CPU one thread runs these small passes many times faster than two)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--out", type=Path, default=None, help=f"folder for the pictures and the record (default "
                   f"{str(runs_dir() / 'probe').replace('%', '%%')})")
    p.set_defaults(run=run)


def _position(text: str | None, grid: tuple[int, int]) -> tuple[int, int]:
    rows, columns = grid
    if text is None:
        return rows // 2, columns // 2
    try:
        x, y = (int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--position expects X,Y (two whole numbers), got {text!r}") from None
    if not (0 <= x < columns and 0 <= y < rows):
        raise UserError(f"--position {text}: this layer's grid is {columns}×{rows} (X 0…{columns - 1}, "
                        f"Y 0…{rows - 1})")
    return y, x


def _folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the folder {out}: {e.strerror}") from None
    return out


def run(args) -> int:
    import torch
    from tqdm import tqdm

    from app.analysis.ascent import AscentConfig, ascend, shown
    from app.analysis.probe_report import curve_plot, gallery, patches_strip, tile, write_png
    from app.analysis.top_patches import scan_images, top_patches
    from app.loop.device import pick_device
    from app.loop.session import load_model, model_size
    from app.models.probing import ProbeTarget, probe_layer

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    loaded = load_model(args.model, device)
    size = model_size(loaded, args.size, device)
    stack = loaded.runtime().placed(device, torch.float32)
    probe = stack.prober(size)
    if probe is None:
        raise UserError(f"{loaded.name} cannot be probed: its kind has no probe")
    layers = probe.layers()
    if args.list or args.layer is None:
        print(f"{loaded.name} at {size}px: layers to probe (--layer)")
        for layer in layers:
            print(f"  {layer.name:<9} {layer.units:>4} units on a {layer.grid[1]}×{layer.grid[0]} grid  "
                  f"{layer.description}")
        if args.layer is None and not args.list:
            raise UserError("give --layer (one of the names above)")
        return 0
    try:
        layer = probe_layer(probe, args.layer)
    except ValueError as e:
        raise UserError(str(e)) from None
    position = _position(args.position, layer.grid)
    if not args.all and args.unit >= layer.units:
        raise UserError(f"--unit {args.unit}: layer {layer.name} has units 0 to {layer.units - 1}")
    units = list(range(layer.units)) if args.all else [args.unit]
    targets = [ProbeTarget(layer.name, u, position) for u in units]
    config = AscentConfig(steps=args.steps, lr=args.lr, optimizer=args.optimizer, seed=args.seed)
    out = _folder(args.out or runs_dir() / "probe")
    top_k = args.top if args.top is not None else (8 if args.init == "top-patch" else 0)
    start_time = time.perf_counter()
    field = probe.receptive_field(targets[0])
    canvas, _, _ = probe.compact(targets[0])

    tops = None
    if top_k:
        images = list(scan_images(probe.size, probe.resizable))
        bar = tqdm(total=len(images), desc="top patches", unit="image", disable=args.quiet, leave=False)
        tops = top_patches(probe, targets, top_k, images, progress=lambda _: bar.update())
        bar.close()
        if any(not t for t in tops):
            raise UserError(f"no patch of the photos or the clip holds the whole field of {targets[0].describe()}"
                            f" ({field.height}×{field.width} px); pick a position nearer the centre")
    bar = tqdm(total=args.steps, desc=f"ascent ({len(targets)} unit{'s' if len(targets) > 1 else ''})",
               unit="step", disable=args.quiet, leave=False)
    patches = [t[0].patch for t in tops] if args.init == "top-patch" else None
    stimuli = ascend(probe, targets, args.init, config, patches=patches, progress=lambda _: bar.update())
    bar.close()
    seconds = time.perf_counter() - start_time

    stem = f"layer{layer.name}-{'all' if args.all else f'unit{args.unit}'}-x{position[1]}y{position[0]}-{args.init}"
    record = {"model": loaded.name, "kind": loaded.card["architecture"]["kind"], "size": size,
              "layer": {"name": layer.name, "units": layer.units, "grid": list(layer.grid),
                        "description": layer.description, "linear": layer.linear},
              "position": {"x": position[1], "y": position[0]},
              "receptive_field": field.to_dict(), "field_in_frame": stimuli[0].field.to_dict(),
              "ascent_frame": canvas, "init": args.init, "optimizer": args.optimizer, "lr": args.lr,
              "steps": args.steps, "seed": args.seed, "device": str(device), "seconds": round(seconds, 2),
              "shown_as": "what the ascent added to its start (for top-patch: the result minus the patch), gray "
                          "at zero, scaled so the largest change reaches black or white"}
    files = {}
    if args.all:
        images = [shown(s.added) for s in stimuli]
        columns = max(1, round(len(images) ** 0.5))
        files["grid"] = write_png(out / f"{stem}.png", tile([_big(i) for i in images], columns), 0).name
        unit_dir = out / f"{stem}-units"
        rows = []
        for s, image in zip(stimuli, images):
            name = write_png(unit_dir / f"unit{s.target.unit}.png", image).name
            rows.append({"label": f"unit {s.target.unit}", "image": f"{unit_dir.name}/{name}",
                         "lines": [f"response {s.curve[0]:.3f} → {s.curve[-1]:.3f}"]})
        files["gallery"] = gallery(out / f"{stem}.html", f"{loaded.name}: {layer.name} at ({position[1]}, "
                                   f"{position[0]}), {args.init} start, {args.optimizer} lr {args.lr}", rows).name
        files["curves"] = curve_plot(out / f"{stem}-curves.png", {f"unit {s.target.unit}": s.curve
                                                                  for s in stimuli[:12]},
                                     f"{loaded.name} layer {layer.name}: response over the ascent").name
        record["units"] = [s.to_dict() for s in stimuli]
    else:
        s = stimuli[0]
        files["stimulus"] = write_png(out / f"{stem}.png", shown(s.added)).name
        files["curve"] = curve_plot(out / f"{stem}-curve.png", {args.init: s.curve},
                                    f"{loaded.name} {s.target.describe()}").name
        record.update(s.to_dict())
        if tops:
            files["top_patches"] = write_png(out / f"{stem}-top{top_k}.png", patches_strip(tops[0]), 0).name
            record["top_patches"] = [p.to_dict() for p in tops[0]]
            if args.init == "top-patch":
                files["top_patch"] = write_png(out / f"{stem}-patch.png",
                                               (tops[0][0].patch * 255 + 0.5).clip(0, 255).astype("uint8")).name
    record["files"] = files
    (out / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"{loaded.name} layer {layer.name} at x={position[1]} y={position[0]} ({size}px): receptive field "
          f"{field.height}×{field.width} px at rows {field.top}…{field.bottom - 1}, columns {field.left}…"
          f"{field.right - 1}")
    for s in stimuli[:8]:
        print(f"  unit {s.target.unit}: response {s.curve[0]:.4f} → {s.curve[-1]:.4f} ({args.init}, "
              f"{args.optimizer}, {args.steps} steps)")
    if len(stimuli) > 8:
        print(f"  … and {len(stimuli) - 8} more units")
    if tops and not args.all:
        print("  top patches: " + ", ".join(f"{p.source} {p.response:.3f}" for p in tops[0][:3]))
    print(f"wrote {', '.join(files.values())} and {stem}.json in {out} ({seconds:.1f} s)")
    return 0


def _big(image, at_least: int = 48):
    from app.analysis.ascent import enlarged
    return enlarged(image, at_least)
