"""``hypnagogia presets``: the presets there are, shipped and the user's; ``presets save NAME`` runs
a look headless for a few steps and saves it as a preset with its thumbnail, as the panel's Save
does (the curated presets in assets/presets are made so)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.commands.args import add_common, positive_int
from app.commands.record import RecordHost

RENDER_FPS = 30.0            # the clock modulators and morphs follow while a look renders
THUMBNAIL_SIDE = 96


def register(sub) -> None:
    p = sub.add_parser("presets", help="list the presets (shipped and yours); `presets save NAME` makes one "
                       "headless")
    p.add_argument("--json", action="store_true", help="the list as JSON")
    p.set_defaults(run=run, assignments=[])
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    save = actions.add_parser("save", help="run a look headless (--preset, --model, --set) and save it as a preset "
                              "with a thumbnail of the view")
    save.add_argument("name", help="the preset's name (a new one unless --overwrite)")
    add_common(save)
    save.add_argument("--source", default=None, help="the source it renders on, saved in the preset (default: the "
                      "--preset's; else none is saved, so the preset plays on whatever runs, and the thumbnail is "
                      "rendered on the sample clip)")
    save.add_argument("--description", default="", help="one line saying what the look shows")
    save.add_argument("--steps", type=positive_int, default=200, help="steps run before the thumbnail is taken")
    save.add_argument("--overwrite", action="store_true", help="replace the preset of that name (a shipped one: "
                      "your own copy, which hides it)")
    save.add_argument("--to", type=Path, default=None, help="the folder to save in (default: your presets folder)")
    save.set_defaults(run=run_save)


def run(args) -> int:
    from app.controllers.presets import PresetBank, PresetError

    bank = PresetBank()
    rows = []
    for number, entry in enumerate(bank.entries(), 1):
        row = {"number": number, "name": entry.name, "where": "shipped" if entry.shipped else "user",
               "path": str(entry.path), "thumbnail": str(entry.thumbnail) if entry.thumbnail.exists() else None}
        try:
            preset = bank.load(entry)
            row |= {"model": preset.model, "source": preset.source, "rule": preset.rule,
                    "description": preset.description, "problem": None}
        except PresetError as e:
            row |= {"model": None, "source": None, "rule": None, "description": "", "problem": str(e)}
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no presets: none shipped in {bank.shipped_dir} and none saved in {bank.user_dir}")
        return 0
    print(_table(rows))
    print(f"yours: {bank.user_dir}; shipped: {bank.shipped_dir}. Recall one with --preset NAME|N, a number key, "
          f"MIDI or OSC (/hypnagogia/preset/NAME)")
    return 0


def _table(rows: list[dict]) -> str:
    columns = [("#", lambda r: str(r["number"])), ("name", lambda r: r["name"]), ("where", lambda r: r["where"]),
               ("model", lambda r: r["model"] or "any"), ("source", lambda r: r["source"] or "yours")]
    cells = [[get(r) for _, get in columns] for r in rows]
    widths = [max(len(title), *(len(c[i]) for c in cells)) for i, (title, _) in enumerate(columns)]
    lines = ["  ".join(t.ljust(w) for (t, _), w in zip(columns, widths)) + "  description"]
    for row, line in zip(rows, cells):
        text = f"! {row['problem']}" if row["problem"] else row["description"]
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + text)
    return "\n".join(lines)


def run_save(args) -> int:
    from app.action_table import ActionTable
    from app.controllers.hub import Controllers
    from app.controllers.presets import PresetBank, check_name
    from app.gl.context import headless_context
    from app.gl.views import Views
    from app.loop.session import Session
    from app.loop.triggers import DreamToggle, define_loop_actions

    bank = PresetBank(args.to)
    name = check_name(args.name)
    if not args.overwrite:
        bank.refuse_taken(name)                        # before anything renders
    start = args.start_preset
    saved_source = args.source or (start.source if start is not None else None)
    args.source = saved_source or "sample"
    ctx = headless_context()
    session = Session.from_args(ctx, args, realtime=False)
    views = Views(ctx)
    try:
        actions = ActionTable()
        define_loop_actions(actions, lambda: session.engine, session.registry, DreamToggle(session.registry))
        controllers = Controllers(session.registry, actions, ThumbnailHost(session, views))
        controllers.presets = bank
        try:
            controllers.open_from_args(args)
            for step in range(args.steps):
                controllers.tick(step / RENDER_FPS)
                session.engine.advance()
            preset = controllers.save_preset(name, description=args.description, overwrite=args.overwrite,
                                             with_source=saved_source is not None)
        finally:
            controllers.close()
    finally:
        session.close()
    print(f"saved preset {preset.name} ({preset.model}, {args.steps} steps on {args.source}) to {preset.path}, "
          f"thumbnail {preset.thumbnail_path}")
    return 0


class ThumbnailHost(RecordHost):
    """``record``'s host with a thumbnail: the main view, small, rendered headless."""

    def __init__(self, session, views):
        super().__init__(session, lambda line: print(line, file=sys.stderr))
        self.views = views

    def thumbnail(self):
        import numpy as np

        engine = self.session.engine
        texture = engine.ctx.texture((THUMBNAIL_SIDE, THUMBNAIL_SIDE), 4)
        fbo = engine.ctx.framebuffer([texture])
        try:
            fbo.use()
            fbo.viewport = (0, 0, THUMBNAIL_SIDE, THUMBNAIL_SIDE)
            self.views.render(engine.frame(), "main", fbo, engine.registry["error_gain"])
            pixels = np.frombuffer(fbo.read(components=3), np.uint8).reshape(THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3)
            return pixels[::-1].copy()
        finally:
            fbo.release()
            texture.release()
