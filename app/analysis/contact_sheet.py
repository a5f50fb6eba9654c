"""A contact sheet of a model's dreams: one row per seed, one column per kept step, labelled.

Frames larger than a cell are area-averaged down to it, and a last column shows the end frame's
middle at one screen pixel per frame pixel, where stripes and checkerboards stay visible.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.analysis.dream_runs import DreamTrace

CELL = 256
MIN_CELL = 96               # smaller frames are shown enlarged by a whole factor, pixels kept square
GAP = 4
LABEL_WIDTH = 72
TITLE_HEIGHT, HEADER_HEIGHT = 28, 22
BACKGROUND, INK = 24, (230, 230, 230)
FONT, FONT_SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.45


def _cell(frame: np.ndarray, cell: int) -> np.ndarray:
    frame = np.clip(np.nan_to_num(frame), 0, 1).astype(np.float32)
    if frame.shape[0] > cell:
        frame = cv2.resize(frame, (cell, cell), interpolation=cv2.INTER_AREA)
    elif frame.shape[0] < cell:
        factor = cell // frame.shape[0]
        frame = frame.repeat(factor, axis=0).repeat(factor, axis=1)
    return np.rint(frame * 255).astype(np.uint8)


def _middle(frame: np.ndarray, cell: int) -> np.ndarray:
    top = (frame.shape[0] - cell) // 2
    return _cell(frame[top:top + cell, top:top + cell], cell)


def _text(image: np.ndarray, text: str, x: int, y: int) -> None:
    cv2.putText(image, text, (x, y), FONT, FONT_SCALE, INK, 1, cv2.LINE_AA)


def contact_sheet(traces: list[DreamTrace], title: str, cell: int = CELL) -> np.ndarray:
    """(H, W, 3) uint8 RGB: ``traces`` (one model, size and start) as rows, their kept steps as columns."""
    size = traces[0].frames[0].shape[0]
    side = min(size, cell) if size >= MIN_CELL else size * -(-MIN_CELL // size)
    steps = sorted(traces[0].frames)
    labels = [f"step {s:,}" for s in steps] + (["end, middle 1:1"] if size > cell else [])
    width = LABEL_WIDTH + len(labels) * (side + GAP)
    height = TITLE_HEIGHT + HEADER_HEIGHT + len(traces) * (side + GAP)
    sheet = np.full((height, width, 3), BACKGROUND, np.uint8)
    _text(sheet, title, GAP, TITLE_HEIGHT - 9)
    for column, label in enumerate(labels):
        _text(sheet, label, LABEL_WIDTH + column * (side + GAP), TITLE_HEIGHT + HEADER_HEIGHT - 7)
    for row, trace in enumerate(traces):
        y = TITLE_HEIGHT + HEADER_HEIGHT + row * (side + GAP)
        _text(sheet, f"seed {trace.seed}", GAP, y + side // 2)
        cells = [_cell(trace.frames[s], side) for s in steps]
        if size > cell:
            cells.append(_middle(trace.frames[steps[-1]], side))
        for column, image in enumerate(cells):
            x = LABEL_WIDTH + column * (side + GAP)
            sheet[y:y + side, x:x + side] = image
    return sheet
