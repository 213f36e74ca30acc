"""The one loop: frames -> key model -> streaming decoder -> note edges, for live and offline use.

Offline transcription is the live loop run to the end of the file: the same transcriber, the same
streaming decoder, the same hand-channel mapping, so a file and a live run of it give the same notes.
Frames are batched through the model offline (``push_many`` returns what ``push`` would, one by one).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bridge.decoding import DecoderSettings, StreamingDecoder
from bridge.model import KeyModel, KeyTranscriber
from bridge.types import Activations, Frame, KeyboardGeometry, NoteEdge

log = logging.getLogger(__name__)

N_KEYS = 88
LOWEST_PITCH = 21
# One frame at a time, the model's work is too small to share out: a second thread only adds waiting for it
# (on a loaded machine, for a thread that is not scheduled). Offline batches choose their own threads.
PER_FRAME_THREADS = 1


@dataclass(frozen=True, slots=True)
class HandChannels:
    """Notes below ``split_pitch`` go to the left hand's channel, the rest to the right hand's."""

    split_pitch: int = 60
    left: int = 0
    right: int = 1

    def channel_of(self, pitch: int) -> int:
        return self.left if pitch < self.split_pitch else self.right

    def apply(self, edge: NoteEdge) -> NoteEdge:
        return dataclasses.replace(edge, channel=self.channel_of(edge.pitch))


class EdgeLoop:
    """Frames in, note edges out, one frame (or batch) at a time; :meth:`close` ends every sounding note."""

    def __init__(self, geometry: KeyboardGeometry, model: KeyModel, settings: DecoderSettings | None = None,
                 hands: HandChannels | None = None) -> None:
        self.transcriber = KeyTranscriber(geometry, model)
        self.decoder = StreamingDecoder(N_KEYS, settings or DecoderSettings())
        self.hands = hands or HandChannels()

    def push(self, frames: Sequence[Frame]) -> tuple[list[Activations], list[NoteEdge]]:
        one = len(frames) == 1
        activations = self.transcriber.push(frames[0]) if one else self.transcriber.push_many(frames)
        return activations, self._decode(activations)

    def close(self, end_time: float) -> tuple[list[Activations], list[NoteEdge]]:
        """Flush the look-ahead and end every sounding note at ``end_time`` (the end of the last frame)."""
        activations = self.transcriber.flush()
        edges = self._decode(activations)
        edges.extend(self.hands.apply(e) for e in self.decoder.close(end_time))
        return activations, edges

    def _decode(self, activations: Iterable[Activations]) -> list[NoteEdge]:
        return [self.hands.apply(edge) for act in activations for edge in self.decoder.push(act)]


def edge_stream(frames: Iterable[Frame], geometry: KeyboardGeometry, *, model_path: Path | None = None,
                settings: DecoderSettings | None = None, threads: int | None = None,
                hands: HandChannels | None = None) -> Iterator[tuple[Frame, list[NoteEdge]]]:
    """Each frame with the edges decided once it arrived; after the last frame, that frame again with the
    note offs of closing the decoder (so every note on has its note off). ``threads``: the model's CPU
    threads (default PER_FRAME_THREADS)."""
    model = KeyModel.load(model_path, PER_FRAME_THREADS if threads is None else threads)
    # A note already sounding in the first frames is known only once released: offline adds it from the start,
    # live would send it as a blip at its end, so live leaves it out (the one way offline differs from live).
    live_settings = dataclasses.replace(settings or model.card.decoder, initial_notes=False)
    loop = EdgeLoop(geometry, model, live_settings, hands)
    last: Frame | None = None
    period = 1.0 / model.card.fps
    for frame in frames:
        last = frame
        yield frame, loop.push([frame])[1]
    if last is not None:
        yield last, loop.close(last.t + period)[1]


@dataclass
class RollRecorder:
    """Keeps the model's activations (for ``--roll`` and the preview) as compact arrays."""

    times: list[float] = field(default_factory=list)
    onset: list[NDArray[np.float32]] = field(default_factory=list)
    frame: list[NDArray[np.float32]] = field(default_factory=list)
    velocity: list[NDArray[np.float32]] = field(default_factory=list)

    def add(self, activations: Iterable[Activations]) -> None:
        for act in activations:
            self.times.append(act.t)
            self.onset.append(np.asarray(act.onset, np.float32))
            self.frame.append(np.asarray(act.frame, np.float32))
            self.velocity.append(np.asarray(act.velocity, np.float32))

    def save(self, path: Path) -> None:
        def stack(rows: list[NDArray[np.float32]]) -> NDArray[np.float32]:
            return np.stack(rows) if rows else np.zeros((0, N_KEYS), np.float32)

        np.savez_compressed(path, t=np.asarray(self.times, np.float64), onset=stack(self.onset),
                            frame=stack(self.frame), velocity=stack(self.velocity),
                            lowest_pitch=np.int32(LOWEST_PITCH))


