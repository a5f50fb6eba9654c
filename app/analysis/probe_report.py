"""Pictures and pages of probed units: stimuli as PNGs, response curves, grids and an HTML gallery."""

from __future__ import annotations

import html
from pathlib import Path

import cv2
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from app.analysis.ascent import Stimulus, enlarged, shown  # noqa: E402
from app.analysis.top_patches import TopPatch  # noqa: E402


def write_png(path: Path, image: np.ndarray, at_least: int = 128) -> Path:
    """An RGB uint8 image, enlarged without smoothing (every pixel of a small field stays visible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(enlarged(image, at_least), cv2.COLOR_RGB2BGR))
    return path


def tile(images: list[np.ndarray], columns: int, gap: int = 2, background: int = 20) -> np.ndarray:
    """Equal-sized RGB uint8 images in a grid."""
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    out = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), background, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        out[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = image
    return out


def curve_plot(path: Path, curves: dict[str, np.ndarray], title: str) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    for label, curve in curves.items():
        ax.plot(np.arange(len(curve)), curve, label=label)
    ax.set_xlabel("ascent step")
    ax.set_ylabel("response")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def patches_strip(patches: list[TopPatch], at_least: int = 64) -> np.ndarray:
    images = [enlarged(np.clip(p.patch * 255 + 0.5, 0, 255).astype(np.uint8), at_least) for p in patches]
    return tile(images, len(images))


def stimulus_image(stimulus: Stimulus) -> np.ndarray:
    """What a start is shown as: what the ascent added (gray at zero)."""
    return shown(stimulus.added)


def gallery(path: Path, title: str, rows: list[dict]) -> Path:
    """An HTML page of units: each row has ``label``, ``image`` (a path relative to the page) and ``lines``."""
    cells = "\n".join(
        f'<figure><img src="{html.escape(r["image"])}" alt="{html.escape(r["label"])}">'
        f'<figcaption><b>{html.escape(r["label"])}</b><br>{"<br>".join(html.escape(x) for x in r["lines"])}'
        f"</figcaption></figure>" for r in rows)
    path.write_text(f"""<!doctype html><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:14px sans-serif;background:#111;color:#ddd}}figure{{display:inline-block;margin:6px;
text-align:center}}img{{image-rendering:pixelated;width:128px;height:128px;border:1px solid #333}}
figcaption{{font-size:12px}}</style>
<h1>{html.escape(title)}</h1>
<p>Each image is what gradient ascent added to its start over the unit's receptive field (gray: nothing;
scaled so the largest change reaches black or white).</p>
{cells}
""")
    return path
