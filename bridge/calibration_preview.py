"""The preview image: the frame with every key outlined, C keys named, and the calibration's confidence."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import pitch_name
from bridge.types import KeyboardGeometry

_WHITE_OUTLINE = (0, 200, 255)  # BGR amber
_BLACK_OUTLINE = (255, 120, 0)  # BGR blue
_LABEL = (0, 0, 255)


def draw_preview(image: NDArray[np.uint8], geometry: KeyboardGeometry) -> NDArray[np.uint8]:
    """A copy of the BGR frame with the key outlines (white keys amber, black keys blue) and C keys labelled."""
    preview = np.ascontiguousarray(image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    height, width = preview.shape[:2]
    thickness = 1 if width < 1600 else 2
    key_px = _white_key_px(geometry)
    font_scale = float(np.clip(key_px / 40.0, 0.3, 1.0))
    for key in geometry.keys:
        points = np.round(key.polygon * 16).astype(np.int32)
        cv2.polylines(preview, [points], True, _BLACK_OUTLINE if key.black else _WHITE_OUTLINE, thickness,
                      cv2.LINE_AA, shift=4)
    for key in geometry.keys:
        if key.pitch % 12 == 0:
            front = key.polygon[np.argsort(key.polygon[:, 1])[-2:]].mean(axis=0)
            text = pitch_name(key.pitch)
            (text_w, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
            origin = (int(front[0] - text_w / 2), int(min(front[1] - 4, height - 2)))
            cv2.putText(preview, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, _LABEL, 1, cv2.LINE_AA)
    span = f"{pitch_name(geometry.lowest_pitch)}-{pitch_name(geometry.layout.highest_pitch)}"
    summary = f"{span} ({geometry.n_keys} keys), confidence {geometry.confidence:.2f}"
    cv2.putText(preview, summary, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(preview, summary, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return np.asarray(preview, np.uint8)


def _white_key_px(geometry: KeyboardGeometry) -> float:
    widths = [float(np.ptp(k.polygon[:, 0])) for k in geometry.keys if not k.black]
    return float(np.median(widths)) if widths else 20.0
