"""``hypnagogia record``: the loop rendered headless, one frame per step, to H.264."""

from __future__ import annotations

import sys

from tqdm import tqdm

from app.gl.context import headless_context
from app.gl.output import OffscreenTarget
from app.gl.views import Views, natural_size
from app.io.recorder import VideoRecorder
from app.session import build_engine


def record(args) -> int:
    ctx = headless_context()
    engine = build_engine(ctx, args, realtime=False)
    registry = engine.registry
    view = registry["view"]
    width, height = natural_size(view, engine.size, engine.n_layers)
    target = OffscreenTarget(ctx, width, height)
    views = Views(ctx)
    last_message = engine.message
    recorder = VideoRecorder(args.out, width, height, fps=args.fps)
    bar = tqdm(total=args.steps, unit="step", disable=args.quiet, desc=f"recording {args.out}")
    if args.hold:
        registry.set("dream", 0.0)
    try:
        for i in range(args.steps):
            if args.hold and i == 1:
                registry.set("freeze", True)       # keep the first frame: its motion memory fades
            if args.hold and i == args.hold:
                registry.set("dream", 1.0)
            engine.advance()
            views.render(engine.frame(), view, target.fbo, registry["error_gain"])
            recorder.write(target.read())
            bar.update()
            for message in (engine.message, engine.source.message):
                if message and message != last_message:
                    tqdm.write(message, file=sys.stderr)
                    last_message = message
    except KeyboardInterrupt:
        bar.close()
        recorder.close()
        print(f"interrupted: {recorder.path} holds the {recorder.frames_written} frames written so far",
              file=sys.stderr)
        return 130
    finally:
        bar.close()
        recorder.close()
        engine.release()
    print(f"wrote {recorder.frames_written} frames ({width}×{height}) to {recorder.path}")
    return 0
