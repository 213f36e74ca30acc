"""Hand and body landmarks from video frames: the only module that imports mediapipe.

mediapipe 0.10.21 (legacy ``mp.solutions`` API) is imported lazily when a detector is built, and its
result objects are turned into plain arrays and :class:`bridge.types.Hands` at this boundary. Tracks of
a whole video are a :class:`LandmarkTracks`, saved as ``.npz`` (layout in docs/landmarks.md).
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.errors import InputFileError, SystemDependencyError, VmbError
from bridge.segments import Segment, plan_segments
from bridge.smoothing import OneEuroFilter, OneEuroSettings
from bridge.sources import VideoFileSource, prefetched, probe
from bridge.types import Frame, Hands

log = logging.getLogger(__name__)

NPZ_VERSION = 1
HAND_SLOTS: tuple[str, str] = ("Left", "Right")  # slot 0 is the player's left hand
N_HAND_POINTS = 21
N_POSE_POINTS = 33
POSE_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
# Hand keypoints smoothed for live use: light enough to follow a fast strum, firm enough to kill jitter.
DEFAULT_SMOOTHING = OneEuroSettings(min_cutoff=2.0, beta=0.05, d_cutoff=1.0)
DARK_LUMA = 25.0  # mean 8-bit luma below which a frame counts as too dark to see hands
DETECT_WIDTH = 640  # frames are shrunk to this width before mediapipe (its models run at 192-256 px)
MIN_DETECT_WIDTH = 128
SEARCH_EVERY = 2  # while no hand is seen, look for one in every 2nd frame
MIN_SEGMENT_S = 30.0  # shorter segments are not worth a worker: each pays 2-4 s (wall) to start
SEGMENT_WARMUP_S = 1.0  # a segment after the first starts this early, so its tracker and filters have settled


@dataclass(frozen=True, slots=True)
class FrameLandmarks:
    """Landmarks of one frame: ``hands[2, 21, 3]`` by slot (NaN where missing), ``pose[33, 4]`` or None."""

    t: float
    hands: NDArray[np.float32]
    scores: NDArray[np.float32]
    pose: NDArray[np.float32] | None
    luma: float

    def to_hands(self) -> Hands:
        present = [slot for slot in range(2) if np.all(np.isfinite(self.hands[slot]))]
        return Hands(self.t, self.hands[present].astype(np.float32), tuple(HAND_SLOTS[s] for s in present),
                     self.scores[present].astype(np.float32))


@dataclass(frozen=True, slots=True)
class LandmarkTracks:
    """Landmarks of every frame: ``t[n]``, ``hands[n, 2, 21, 3]`` pixels (NaN = missing), ``scores[n, 2]``,
    ``pose[n, 33, 4]`` (x, y pixels, z, visibility) when asked, ``luma[n]`` mean brightness 0-255."""

    t: NDArray[np.float64]
    hands: NDArray[np.float32]
    scores: NDArray[np.float32]
    image_size: tuple[int, int]
    luma: NDArray[np.float32]
    pose: NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        n = len(self.t)
        shapes = {"hands": (self.hands, (n, 2, N_HAND_POINTS, 3)), "scores": (self.scores, (n, 2)),
                  "luma": (self.luma, (n,))}
        if self.pose is not None:
            shapes["pose"] = (self.pose, (n, N_POSE_POINTS, 4))
        for name, (array, shape) in shapes.items():
            if array.shape != shape:
                raise VmbError(f"LandmarkTracks.{name} must have shape {shape}, got {array.shape}")

    @property
    def n_frames(self) -> int:
        return len(self.t)

    @property
    def handedness(self) -> tuple[str, str]:
        return HAND_SLOTS

    def hand_present(self) -> NDArray[np.bool_]:
        """``[n, 2]``: the hand of each slot was found in the frame."""
        return np.asarray(np.all(np.isfinite(self.hands), axis=(2, 3)), dtype=bool)

    def between(self, start: float, end: float | None = None) -> LandmarkTracks:
        """The frames with ``start <= t < end`` (to the last frame when ``end`` is None)."""
        keep = (self.t >= start - 1e-6) & (self.t < (np.inf if end is None else end - 1e-6))
        pose = None if self.pose is None else self.pose[keep]
        return LandmarkTracks(self.t[keep], self.hands[keep], self.scores[keep], self.image_size, self.luma[keep], pose)

    def frame(self, i: int) -> FrameLandmarks:
        pose = None if self.pose is None else self.pose[i]
        return FrameLandmarks(float(self.t[i]), self.hands[i], self.scores[i], pose, float(self.luma[i]))

    def hands_at(self, i: int) -> Hands:
        return self.frame(i).to_hands()

    def save(self, path: Path | str) -> None:
        arrays: dict[str, Any] = {
            "version": np.int32(NPZ_VERSION), "t": self.t, "hands": self.hands, "scores": self.scores,
            "handedness": np.array(HAND_SLOTS), "image_size": np.array(self.image_size, dtype=np.int32),
            "luma": self.luma,
        }
        if self.pose is not None:
            arrays["pose"] = self.pose
        try:
            with open(path, "wb") as stream:
                np.savez_compressed(stream, **arrays)
        except OSError as exc:
            raise InputFileError(f"cannot write {path} ({exc.strerror}): check the folder exists and is writable") \
                from exc

    @classmethod
    def load(cls, path: Path | str) -> LandmarkTracks:
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["version"]) != NPZ_VERSION:
                    raise InputFileError(f"{path} is landmark file version {int(data['version'])}: "
                                         f"extract it again with vmb landmarks")
                pose = data["pose"].astype(np.float32) if "pose" in data else None
                width, height = (int(v) for v in data["image_size"])
                return cls(data["t"].astype(np.float64), data["hands"].astype(np.float32),
                           data["scores"].astype(np.float32), (width, height), data["luma"].astype(np.float32), pose)
        except FileNotFoundError as exc:
            raise InputFileError(f"{path} does not exist: run vmb landmarks VIDEO -o {path} first") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise InputFileError(f"{path} is not a landmark file from vmb landmarks ({exc}): extract it again") \
                from exc


def _import_mediapipe() -> Any:
    try:
        import mediapipe as mp  # heavy (seconds): only when detecting
    except ImportError as exc:
        raise SystemDependencyError(f"mediapipe cannot be imported ({exc}): install it with "
                                    f"pip install mediapipe==0.10.21 (needs numpy<2 and protobuf<5)") from exc
    return mp


def _luma(image: NDArray[np.uint8]) -> float:
    small = cv2.resize(image, (64, 36), interpolation=cv2.INTER_AREA)
    return float(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).mean())


def hands_from_mediapipe(result: Any, width: int, height: int, mirrored: bool) -> tuple[NDArray[np.float32],
                                                                                        NDArray[np.float32]]:
    """A mediapipe Hands result as ``hands[2, 21, 3]`` pixels by slot (NaN where missing) and ``scores[2]``.

    mediapipe labels handedness as if the image were mirrored (a selfie camera); for an ordinary camera the
    labels are swapped. Two hands with one label go left to right in the image.
    """
    hands = np.full((2, N_HAND_POINTS, 3), np.nan, dtype=np.float32)
    scores = np.zeros(2, dtype=np.float32)
    found: list[tuple[str, float, NDArray[np.float32]]] = []
    for points, handedness in zip(result.multi_hand_landmarks or [], result.multi_handedness or [], strict=False):
        xyz = np.array([[p.x * width, p.y * height, p.z * width] for p in points.landmark], dtype=np.float32)
        label = handedness.classification[0].label
        if not mirrored:
            label = "Right" if label == "Left" else "Left"
        found.append((label, float(handedness.classification[0].score), xyz))
    if len(found) == 2 and found[0][0] == found[1][0]:
        left, right = sorted(found, key=lambda f: float(np.mean(f[2][:, 0])) * (-1 if mirrored else 1))
        found = [("Left", left[1], left[2]), ("Right", right[1], right[2])]
    for label, score, xyz in found:
        slot = HAND_SLOTS.index(label)
        hands[slot], scores[slot] = xyz, score
    return hands, scores


def pose_from_mediapipe(result: Any, width: int, height: int) -> NDArray[np.float32]:
    """A mediapipe Pose result as ``pose[33, 4]``: x, y pixels, z (pixels, relative to the hips), visibility."""
    pose = np.full((N_POSE_POINTS, 4), np.nan, dtype=np.float32)
    if result.pose_landmarks is not None:
        pose[:] = [[p.x * width, p.y * height, p.z * width, p.visibility] for p in result.pose_landmarks.landmark]
    return pose


class LandmarkDetector:
    """mediapipe hands (and optionally pose) over a stream of frames, with causal One Euro smoothing.

    ``hand_model`` 0 is mediapipe's lite hand model (faster), 1 the full one. Pose always uses
    ``model_complexity=1``, the only pose model shipped inside the 0.10.21 wheel.

    Speed: frames are shrunk to ``detect_width`` pixels wide before mediapipe sees them (its models run at
    192-256 px anyway; points come back in the original frame's pixels), into buffers reused from frame
    to frame. mediapipe tracks hands from frame to frame and runs its palm detector only while it tracks
    fewer than two; while no hand at all is seen, only every ``search_every``-th frame is searched (a hand
    that comes into view is found within that many frames). Pose, which costs about as much as two hands, runs on
    every ``pose_every``-th frame and is held in between (:func:`interpolate_held_pose` fills offline).
    """

    def __init__(self, pose: bool = False, mirrored: bool = False, hand_model: int = 1,
                 smoothing: OneEuroSettings | None = DEFAULT_SMOOTHING, detect_width: int | None = DETECT_WIDTH,
                 search_every: int = SEARCH_EVERY, pose_every: int = 1) -> None:
        if detect_width is not None and detect_width < MIN_DETECT_WIDTH:
            raise VmbError(f"detect_width must be at least {MIN_DETECT_WIDTH} pixels, got {detect_width}")
        if search_every < 1:
            raise VmbError(f"search_every must be at least 1, got {search_every}")
        if pose_every < 1:
            raise VmbError(f"pose_every must be at least 1, got {pose_every}")
        mp = _import_mediapipe()
        self.mirrored = mirrored
        self.detect_width = detect_width
        self.search_every = search_every
        self.pose_every = pose_every
        self._hands = mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=2, model_complexity=hand_model,
                                               min_detection_confidence=0.5, min_tracking_confidence=0.5)
        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1,
                                            smooth_landmarks=False) if pose else None
        self._filters = [OneEuroFilter(smoothing) for _ in range(3)] if smoothing else None
        self._small: NDArray[np.uint8] | None = None
        self._rgb: NDArray[np.uint8] | None = None
        self._frames_without_hands = 0
        self._held_pose: NDArray[np.float32] | None = None
        self.processed = 0
        self.pose_runs = 0
        self.skipped = 0  # frames not searched for hands (none seen in the frames before)

    def __enter__(self) -> LandmarkDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._hands.close()
        if self._pose is not None:
            self._pose.close()

    def _model_input(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The frame as RGB, shrunk to ``detect_width`` (never enlarged), in buffers kept between frames."""
        height, width = image.shape[:2]
        source = image
        if self.detect_width is not None and width > self.detect_width:
            size = (self.detect_width, max(1, round(height * self.detect_width / width)))
            if self._small is None or self._small.shape[:2] != (size[1], size[0]):
                self._small = np.empty((size[1], size[0], 3), np.uint8)
            cv2.resize(image, size, dst=self._small, interpolation=cv2.INTER_AREA)
            source = self._small
        if self._rgb is None or self._rgb.shape != source.shape:
            self._rgb = np.empty(source.shape, np.uint8)
        self._rgb.flags.writeable = True
        cv2.cvtColor(source, cv2.COLOR_BGR2RGB, dst=self._rgb)
        self._rgb.flags.writeable = False  # lets mediapipe read it without a copy
        return self._rgb

    def _searching_skips(self) -> bool:
        """While no hand is seen, skip all but every ``search_every``-th frame."""
        return self._frames_without_hands > 0 and self._frames_without_hands % self.search_every != 0

    def process(self, frame: Frame) -> FrameLandmarks:
        height, width = frame.image.shape[:2]
        rgb = self._model_input(frame.image)
        if self._searching_skips():
            self.skipped += 1
            hands = np.full((2, N_HAND_POINTS, 3), np.nan, dtype=np.float32)
            scores = np.zeros(2, dtype=np.float32)
        else:
            hands, scores = hands_from_mediapipe(self._hands.process(rgb), width, height, self.mirrored)
        seen = bool(np.isfinite(hands[:, 0, 0]).any())
        self._frames_without_hands = 0 if seen else self._frames_without_hands + 1
        if self._filters is not None:
            for slot in range(2):
                hands[slot] = self._filters[slot](frame.t, hands[slot])
        pose = self._body(rgb, frame.t, width, height)
        self.processed += 1
        return FrameLandmarks(frame.t, hands, scores, pose, _luma(frame.image))

    def _body(self, rgb: NDArray[np.uint8], t: float, width: int, height: int) -> NDArray[np.float32] | None:
        """The pose of this frame on every ``pose_every``-th frame, else the last one found."""
        if self._pose is None:
            return None
        if self._held_pose is None or self.processed % self.pose_every == 0:
            pose = pose_from_mediapipe(self._pose.process(rgb), width, height)
            self.pose_runs += 1
            if self._filters is not None:
                pose[:, :3] = self._filters[2](t, pose[:, :3])
            self._held_pose = pose
        return self._held_pose.copy()


def extract_landmarks(frames: Iterable[Frame], pose: bool = False, mirrored: bool = False, hand_model: int = 1,
                      smoothing: OneEuroSettings | None = DEFAULT_SMOOTHING,
                      detect_width: int | None = DETECT_WIDTH, pose_every: int = 1) -> LandmarkTracks:
    """Landmarks of every frame; an empty source gives empty tracks (image size 0x0). The frames are decoded
    ahead in a thread, so decoding overlaps detection. With ``pose_every`` > 1 the pose between two runs is
    interpolated."""
    results: list[FrameLandmarks] = []
    size = (0, 0)
    with LandmarkDetector(pose, mirrored, hand_model, smoothing, detect_width, pose_every=pose_every) as detector:
        for frame in prefetched(frames, depth=8):
            size = (frame.image.shape[1], frame.image.shape[0])
            results.append(detector.process(frame))
    tracks = stack_frames(results, size, pose)
    if tracks.pose is not None and pose_every > 1:
        interpolate_held_pose(tracks.pose, pose_every)
    return tracks


def interpolate_held_pose(pose: NDArray[np.float32], every: int) -> None:
    """In place: rows between two pose runs (rows ``0, every, 2 * every, ...``) become the straight line
    between them; after the last run, or next to a run that found nobody, the held pose stays."""
    for run in range(0, len(pose) - every, every):
        before, after = pose[run], pose[run + every]
        if not (np.isfinite(before).all() and np.isfinite(after).all()):
            continue
        weights = (np.arange(1, every, dtype=np.float32) / every)[:, None, None]
        pose[run + 1:run + every] = before + weights * (after - before)


def _segment_tracks(video: Path, segment: Segment, options: dict[str, Any]) -> LandmarkTracks:
    """One worker's part: its segment with the warm-up, then only the frames it keeps."""
    duration = None if segment.end is None else segment.end - segment.read_from
    tracks = extract_landmarks(VideoFileSource(video, segment.read_from, duration), **options)
    return tracks.between(segment.keep_from, segment.end)


def extract_landmarks_from_video(video: Path | str, start: float = 0.0, duration: float | None = None,
                                 workers: int = 1, min_segment_s: float = MIN_SEGMENT_S,
                                 **options: Any) -> LandmarkTracks:
    """:func:`extract_landmarks` of a video file, cut into time segments that ``workers`` processes (each
    with its own tracker and filters, warmed up on the second before its segment) detect side by side.
    mediapipe runs its models on one core, so two workers on two cores take about half the time; the
    tracks are the same frames as one pass, and within detector noise the same points. ``options`` are
    :func:`extract_landmarks`'s."""
    path = Path(video)
    info = probe(path)
    start = max(0.0, start)
    end = info.duration if duration is None else start + duration
    segments = plan_segments(start, end, workers, duration is None, min_segment_s, SEGMENT_WARMUP_S)
    if len(segments) == 1:
        return _segment_tracks(path, segments[0], options)
    log.info("landmarks of %s in %d segments side by side", path, len(segments))
    with ProcessPoolExecutor(len(segments), mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_segment_tracks, [path] * len(segments), segments, [options] * len(segments)))
    return concatenate_tracks(parts)


def concatenate_tracks(parts: Sequence[LandmarkTracks]) -> LandmarkTracks:
    """Tracks of consecutive time ranges as one (the image size of the first that has frames)."""
    filled = [part for part in parts if part.n_frames] or list(parts[:1])
    pose = None if filled[0].pose is None else np.concatenate([part.pose for part in filled if part.pose is not None])
    return LandmarkTracks(np.concatenate([part.t for part in filled]), np.concatenate([p.hands for p in filled]),
                          np.concatenate([part.scores for part in filled]), filled[0].image_size,
                          np.concatenate([part.luma for part in filled]), pose)


def stack_frames(results: list[FrameLandmarks], image_size: tuple[int, int], pose: bool) -> LandmarkTracks:
    n = len(results)
    hands = np.stack([r.hands for r in results]) if n else np.zeros((0, 2, N_HAND_POINTS, 3), np.float32)
    scores = np.stack([r.scores for r in results]) if n else np.zeros((0, 2), np.float32)
    pose_array = None
    if pose:
        pose_array = (np.stack([r.pose for r in results if r.pose is not None]) if n
                      else np.zeros((0, N_POSE_POINTS, 4), np.float32))
    return LandmarkTracks(np.array([r.t for r in results], dtype=np.float64), hands.astype(np.float32),
                          scores.astype(np.float32), image_size, np.array([r.luma for r in results], np.float32),
                          pose_array)
