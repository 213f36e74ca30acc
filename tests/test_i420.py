"""Single pixels of I420 planes in BGR, as OpenCV converts the whole image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import VideoError
from bridge.i420 import PlaneIndex


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_chosen_pixels_convert_as_opencv_converts_the_image(half_width: int, half_height: int, seed: int) -> None:
    width, height = 2 * half_width, 2 * half_height
    rng = np.random.default_rng(seed)
    planes = rng.integers(0, 256, (height * 3 // 2, width), dtype=np.uint8)
    whole = cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420).reshape(-1, 3)
    chosen = rng.integers(0, width * height, (3, 5))
    index = PlaneIndex.of(chosen, width, height)
    assert np.array_equal(index.bgr(planes), whole[chosen])
    assert index.bgr(planes).shape == (3, 5, 3)


def test_extreme_planes_saturate_like_opencv() -> None:
    corners = np.array([[0, 0], [255, 255], [0, 255], [255, 0]], np.uint8)
    for y in (0, 16, 128, 235, 255):
        for u, v in corners:
            planes = np.array([y, y, y, y, u, v], np.uint8).reshape(3, 2)  # 2x2 luma, then one U and one V
            expected = cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420)[0, 0]
            assert np.array_equal(PlaneIndex.of(np.array([0]), 2, 2).bgr(planes)[0], expected)


def test_an_odd_image_has_no_planes() -> None:
    with pytest.raises(VideoError, match="odd size"):
        PlaneIndex.of(np.array([0]), 3, 2)
