"""MIDI Time Code: timecodes at 24, 25, 29.97 drop-frame and 30 fps; quarter frames and full frames.

Eight quarter-frame messages (``F1 0nnndddd``) carry one timecode over two frames; the time they
carry is the moment the first of them was sent. A full-frame SysEx (``F0 7F 7F 01 01 hh mm ss ff F7``)
jumps to a position. :class:`MtcReader` follows a DAW's transport from these messages (running,
stopped, seeks); :class:`MtcWriter` sends them so that a DAW follows the video.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bridge.errors import VmbError

RATES = ("24", "25", "29.97df", "30")
_NOMINAL = {"24": 24, "25": 25, "29.97df": 30, "30": 30}
_REAL_FPS = {"24": 24.0, "25": 25.0, "29.97df": 30000 / 1001, "30": 30.0}
_RATE_CODE = {"24": 0, "25": 1, "29.97df": 2, "30": 3}
_FRAMES_PER_10_MIN_DF = 17982
_FRAMES_PER_MIN_DF = 1798
STOPPED_AFTER_S = 0.25  # no quarter frame for this long: the transport stopped


def _check_rate(rate: str) -> None:
    if rate not in _NOMINAL:
        raise VmbError(f"MTC rate {rate!r} is not supported: choose one of {', '.join(RATES)}")


@dataclass(frozen=True, slots=True)
class Timecode:
    hours: int
    minutes: int
    seconds: int
    frames: int
    rate: str = "25"

    def __post_init__(self) -> None:
        _check_rate(self.rate)
        if not (0 <= self.hours < 24 and 0 <= self.minutes < 60 and 0 <= self.seconds < 60
                and 0 <= self.frames < _NOMINAL[self.rate]):
            raise VmbError(f"timecode {self} is out of range")
        if self.rate == "29.97df" and self.seconds == 0 and self.frames < 2 and self.minutes % 10:
            raise VmbError(f"timecode {self} does not exist in drop-frame time (frames 0 and 1 are skipped)")

    def __str__(self) -> str:
        sep = ";" if self.rate == "29.97df" else ":"
        return f"{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}{sep}{self.frames:02d}"

    @property
    def frame_count(self) -> int:
        nominal = _NOMINAL[self.rate]
        count = ((self.hours * 60 + self.minutes) * 60 + self.seconds) * nominal + self.frames
        if self.rate == "29.97df":
            total_minutes = self.hours * 60 + self.minutes
            count -= 2 * (total_minutes - total_minutes // 10)
        return count

    @property
    def to_seconds(self) -> float:
        return self.frame_count / _REAL_FPS[self.rate]

    @classmethod
    def from_frame_count(cls, count: int, rate: str) -> Timecode:
        _check_rate(rate)
        nominal = _NOMINAL[rate]
        if rate == "29.97df":
            tens, rest = divmod(count, _FRAMES_PER_10_MIN_DF)
            count += 18 * tens + (2 * ((rest - 2) // _FRAMES_PER_MIN_DF) if rest > 1 else 0)
        frames = count % nominal
        seconds = count // nominal
        return cls((seconds // 3600) % 24, (seconds // 60) % 60, seconds % 60, frames, rate)

    @classmethod
    def from_seconds(cls, t: float, rate: str) -> Timecode:
        _check_rate(rate)
        return cls.from_frame_count(int(max(0.0, t) * _REAL_FPS[rate] + 1e-6), rate)


def frame_duration(rate: str) -> float:
    _check_rate(rate)
    return 1 / _REAL_FPS[rate]


def full_frame(tc: Timecode) -> bytes:
    return bytes((0xF0, 0x7F, 0x7F, 0x01, 0x01, (_RATE_CODE[tc.rate] << 5) | tc.hours, tc.minutes, tc.seconds,
                  tc.frames, 0xF7))


def quarter_frames(tc: Timecode) -> list[bytes]:
    """The eight quarter-frame messages that carry ``tc`` (sent a quarter frame apart from ``tc`` on)."""
    hours_high = ((_RATE_CODE[tc.rate] << 1) | (tc.hours >> 4)) & 0x07
    nibbles = (tc.frames & 0x0F, tc.frames >> 4, tc.seconds & 0x0F, tc.seconds >> 4, tc.minutes & 0x0F,
               tc.minutes >> 4, tc.hours & 0x0F, hours_high)
    return [bytes((0xF1, (piece << 4) | nibble)) for piece, nibble in enumerate(nibbles)]


def parse_full_frame(message: bytes) -> Timecode | None:
    if len(message) != 10 or message[:5] != b"\xf0\x7f\x7f\x01\x01" or message[9] != 0xF7:
        return None
    rate = RATES[(message[5] >> 5) & 0x03]
    try:
        return Timecode(message[5] & 0x1F, message[6], message[7], message[8], rate)
    except VmbError:
        return None


class MtcReader:
    """Follows MTC: :meth:`feed` each message with its arrival time; :meth:`position` says where the DAW is.

    While quarter frames arrive the position runs on from the last complete timecode; after
    STOPPED_AFTER_S without one the transport is stopped. A full frame is a locate (seek).
    """

    def __init__(self) -> None:
        self.rate: str | None = None
        self._pieces: list[int | None] = [None] * 8
        self._expected = 0
        self._anchor: tuple[float, float] | None = None  # (position in seconds, arrival time)
        self._last_quarter = -1e9
        self.seeks = 0
        self.seek_target = 0.0  # where the last locate or jump went, in seconds

    def feed(self, message: bytes, arrival: float) -> None:
        if len(message) == 2 and message[0] == 0xF1:
            self._quarter(message[1] >> 4, message[1] & 0x0F, arrival)
            return
        tc = parse_full_frame(message)
        if tc is not None:
            self.rate = tc.rate
            self._anchor = (tc.to_seconds, arrival)
            self._last_quarter = -1e9  # a locate: stopped until quarter frames run again
            self._pieces = [None] * 8
            self.seeks += 1
            self.seek_target = tc.to_seconds

    def _quarter(self, piece: int, nibble: int, arrival: float) -> None:
        if piece != self._expected:  # a gap or a new start: wait for the next piece 0
            self._pieces = [None] * 8
            self._expected = 0
            if piece != 0:
                return
        self._pieces[piece] = nibble
        self._expected = (piece + 1) % 8
        previous_quarter, self._last_quarter = self._last_quarter, arrival
        if piece == 7 and all(p is not None for p in self._pieces):
            tc = self._assemble()
            if tc is not None:
                position = tc.to_seconds + 1.75 * frame_duration(tc.rate)
                if self._anchor is not None and abs(position - self.position(arrival, previous_quarter)) > 0.5:
                    self.seeks += 1
                    self.seek_target = tc.to_seconds
                self._anchor = (position, arrival)

    def _assemble(self) -> Timecode | None:
        p = [n or 0 for n in self._pieces]
        rate = RATES[(p[7] >> 1) & 0x03]
        self.rate = rate
        try:
            return Timecode(((p[7] & 1) << 4) | p[6], (p[5] << 4) | p[4], (p[3] << 4) | p[2], (p[1] << 4) | p[0], rate)
        except VmbError:
            return None

    def running(self, now: float) -> bool:
        return now - self._last_quarter < STOPPED_AFTER_S

    def position(self, now: float, last_quarter: float | None = None) -> float:
        """Seconds of the DAW's timeline at monotonic time ``now`` (0 before any MTC arrived)."""
        if self._anchor is None:
            return 0.0
        anchor_t, anchor_at = self._anchor
        since = self._last_quarter if last_quarter is None else last_quarter
        if now - since < STOPPED_AFTER_S:
            return anchor_t + (now - anchor_at)
        return anchor_t + max(0.0, min(now, since) - anchor_at) if since > anchor_at else anchor_t


class MtcWriter:
    """Sends MTC for a running position: a full frame at each (re)start or seek, then quarter frames.

    ``send`` carries raw MIDI bytes (a port's send); ``position`` gives the current video time in seconds
    or None while paused. Runs its own thread between :meth:`start` and :meth:`close`.
    """

    def __init__(self, send: Callable[[bytes], object], position: Callable[[], float | None],
                 rate: str = "25") -> None:
        _check_rate(rate)
        self.send = send
        self.position = position
        self.rate = rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mtc-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _emit(self, message: bytes) -> None:
        self.send(message)
        self.sent += 1

    def _run(self) -> None:
        quarter = frame_duration(self.rate) / 4
        expected: float | None = None
        while not self._stop.is_set():
            t = self.position()
            if t is None:
                expected = None
                self._stop.wait(quarter)
                continue
            if expected is None or abs(t - expected) > 4 * quarter:
                self._emit(full_frame(Timecode.from_seconds(t, self.rate)))
            # Eight quarter frames from an even frame, a quarter frame apart, on the video's own clock.
            count = Timecode.from_seconds(t, self.rate).frame_count
            start = (count - count % 2) / _REAL_FPS[self.rate]
            tc = Timecode.from_frame_count(count - count % 2, self.rate)
            for piece, message in enumerate(quarter_frames(tc)):
                due = start + piece * quarter
                while not self._stop.is_set():
                    now = self.position()
                    if now is None or now >= due - 1e-4:
                        break
                    time.sleep(min(quarter, due - now))
                if self._stop.is_set() or self.position() is None:
                    break
                self._emit(message)
            expected = start + 8 * quarter

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)


class MtcPacer:
    """Paces a source by a DAW's MIDI Time Code (``--mtc-follow``): stream time ``t`` is due when the DAW is there.

    ``receive`` returns the MIDI messages that arrived, with their monotonic arrival times (a JACK input's
    ``receive``). A locate or a jump in the timecode calls ``on_seek`` with the new position.
    """

    def __init__(self, receive: Callable[[], list[tuple[float, bytes]]],
                 on_seek: Callable[[float], None] | None = None) -> None:
        self.reader = MtcReader()
        self.receive = receive
        self.on_seek = on_seek
        self._seeks_seen = 0

    def pump(self) -> None:
        for arrival, message in self.receive():
            self.reader.feed(message, arrival)
        if self.reader.seeks != self._seeks_seen:
            self._seeks_seen = self.reader.seeks
            if self.on_seek is not None:
                self.on_seek(self.reader.seek_target)

    def reset(self, t: float = 0.0) -> None:
        return None  # the DAW decides where we are

    def pause(self) -> None:
        return None

    def resume(self) -> None:
        return None

    def position(self) -> float | None:
        self.pump()
        now = time.monotonic()
        return self.reader.position(now) if self.reader.running(now) else None

    def wait_until(self, t: float, stop: threading.Event | None = None) -> bool:
        while stop is None or not stop.is_set():
            position = self.position()
            if position is not None and position >= t:
                return True
            time.sleep(0.002)
        return False
