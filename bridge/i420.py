"""BGR colours of chosen pixels of an I420 image (8-bit 4:2:0 video planes), without converting the whole image.

A method that reads a few thousand pixels per frame need not have ffmpeg convert every pixel to BGR and send three
bytes of each through a pipe: the video's own planes are half the bytes. The conversion is BT.601 limited range in
20-bit fixed point, bit for bit what OpenCV's ``cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420)`` gives
(tests/test_i420.py); OpenCV's video reader converts through ffmpeg's swscale, whose rounding differs by a level or two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VideoError

_SHIFT = 20
_HALF = 1 << (_SHIFT - 1)
# luma scale, blue from U, green from U, green from V, red from V (BT.601 limited range, three decimals as OpenCV)
_CY, _CUB, _CUG, _CVG, _CVR = (round(c * (1 << _SHIFT)) for c in (1.164, 2.018, -0.391, -0.813, 1.596))


@dataclass(frozen=True, slots=True)
class PlaneIndex:
    """Where pixels of an image (flat indices ``row * width + column``) lie in its I420 buffer: the luma
    sample of each and the U and V samples of its 2x2 block."""

    luma: NDArray[np.intp]
    u: NDArray[np.intp]
    v: NDArray[np.intp]

    @classmethod
    def of(cls, index: NDArray[np.intp], width: int, height: int) -> PlaneIndex:
        if width % 2 or height % 2:
            raise VideoError(f"a {width}x{height} image has no I420 planes (odd size): read it as BGR")
        rows, columns = np.divmod(index, width)
        u = width * height + (rows // 2) * (width // 2) + columns // 2
        return cls(np.ascontiguousarray(index, np.intp), np.ascontiguousarray(u, np.intp),
                   np.ascontiguousarray(u + (width // 2) * (height // 2), np.intp))

    def yuv(self, planes: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
        """The pixels' Y, U and V samples, each shaped as the index, from the image's I420 buffer (any shape)."""
        flat = planes.reshape(-1)
        return np.take(flat, self.luma), np.take(flat, self.u), np.take(flat, self.v)

    def bgr(self, planes: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The pixels' BGR colours, shaped ``index.shape + (3,)``."""
        return bgr_from_yuv(*self.yuv(planes))


def bgr_from_yuv(y: NDArray[np.uint8], u: NDArray[np.uint8], v: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """BGR (``y.shape + (3,)``) of Y, U and V samples of the same shape."""
    luma = y.astype(np.int32)
    luma -= 16
    np.maximum(luma, 0, out=luma)
    luma *= _CY
    luma += _HALF
    blue_diff = u.astype(np.int32)
    blue_diff -= 128
    red_diff = v.astype(np.int32)
    red_diff -= 128
    out = np.empty((*y.shape, 3), np.int32)
    np.add(luma, _CUB * blue_diff, out=out[..., 0])
    np.add(luma, _CUG * blue_diff + _CVG * red_diff, out=out[..., 1])
    np.add(luma, _CVR * red_diff, out=out[..., 2])
    out >>= _SHIFT
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)
