from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import VmbError
from bridge.midi_ports import JackMidiIn, JackMidiOut
from bridge.mtc import (
    RATES,
    MtcPacer,
    MtcReader,
    MtcWriter,
    Timecode,
    frame_duration,
    full_frame,
    parse_full_frame,
    quarter_frames,
)
from bridge.sources import Pacer
from tests.peers.jack import JackServer, jack

__all__ = ["jack"]


@given(st.sampled_from(RATES), st.integers(0, 24 * 3600 * 25 - 1))
def test_frame_counts_round_trip_through_timecodes(rate: str, count: int) -> None:
    limit = Timecode(23, 59, 59, 29 if rate in ("29.97df", "30") else int(rate) - 1, rate).frame_count
    count = count % (limit + 1)
    assert Timecode.from_frame_count(count, rate).frame_count == count


def test_drop_frame_skips_two_labels_a_minute_except_every_tenth() -> None:
    assert str(Timecode.from_frame_count(1799, "29.97df")) == "00:00:59;29"
    assert str(Timecode.from_frame_count(1800, "29.97df")) == "00:01:00;02"
    assert str(Timecode.from_frame_count(17982, "29.97df")) == "00:10:00;00"
    assert Timecode(1, 0, 0, 0, "29.97df").to_seconds == pytest.approx(3600, abs=0.01)  # drop frame keeps clock time
    with pytest.raises(VmbError, match="skipped"):
        Timecode(0, 1, 0, 0, "29.97df")
    with pytest.raises(VmbError, match="not supported"):
        Timecode(0, 0, 0, 0, "23.976")


@pytest.mark.parametrize("rate", RATES)
def test_full_frame_and_quarter_frames_carry_the_timecode(rate: str) -> None:
    tc = Timecode(1, 2, 3, 4, rate)
    message = full_frame(tc)
    assert message[:5] == b"\xf0\x7f\x7f\x01\x01" and message[-1] == 0xF7
    assert parse_full_frame(message) == tc
    quarters = quarter_frames(tc)
    assert [m[0] for m in quarters] == [0xF1] * 8 and [m[1] >> 4 for m in quarters] == list(range(8))
    reader = MtcReader()
    quarter = frame_duration(rate) / 4
    for i, message in enumerate(quarters):
        reader.feed(message, 100.0 + i * quarter)
    now = 100.0 + 7 * quarter
    assert reader.rate == rate and reader.running(now)
    assert reader.position(now) == pytest.approx(tc.to_seconds + 7 * quarter, abs=1e-6)
    assert not reader.running(now + 1.0), "no quarter frames for a while: the transport stopped"


def test_a_full_frame_is_a_locate_and_a_broken_sequence_is_ignored() -> None:
    reader = MtcReader()
    reader.feed(full_frame(Timecode(0, 5, 0, 0, "25")), 10.0)
    assert reader.position(10.5) == pytest.approx(300.0) and reader.seeks == 1 and not reader.running(10.5)
    for message in quarter_frames(Timecode(0, 0, 1, 0, "25"))[3:]:  # joined in the middle: not a timecode
        reader.feed(message, 11.0)
    assert reader.position(11.0) == pytest.approx(300.0)
    assert parse_full_frame(b"\xf0\x7f\x7f\x01\x02\x00\x00\x00\x00\xf7") is None


def test_mtc_round_trip_through_jack_with_seeks(jack: JackServer) -> None:
    receiver = JackMidiIn("vmb-mtc-in")
    sender = JackMidiOut("vmb-mtc", connect=["vmb-mtc-in:vmb-mtc-in"])
    clock = Pacer()
    clock.reset(12.0)
    writer = MtcWriter(sender.send, clock.position, "25")
    seeks: list[float] = []
    follower = MtcPacer(receiver.receive, on_seek=seeks.append)
    writer.start()
    try:
        assert follower.wait_until(12.5, stop=None)
        for _ in range(5):
            time.sleep(0.1)
            ours, theirs = clock.position(), follower.position()
            assert ours is not None and theirs is not None
            assert theirs == pytest.approx(ours, abs=3 * frame_duration("25"))
        clock.reset(300.0)  # a seek in the video: the follower jumps with it
        deadline = time.monotonic() + 5
        while (follower.position() or 0.0) < 299.0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert follower.position() == pytest.approx(clock.position(), abs=3 * frame_duration("25"))
        assert seeks and seeks[-1] == pytest.approx(300.0, abs=0.2)
        clock.pause()
        time.sleep(0.5)
        assert follower.position() is None, "the sender stopped: the follower stops too"
    finally:
        writer.close()
        sender.close()
        receiver.close()
    assert writer.sent > 30


def test_a_replay_follows_the_daws_timecode_through_seeks(jack: JackServer) -> None:
    import threading

    from bridge.live import LiveRunner
    from bridge.sources import ReplaySource
    from bridge.types import Note, NoteOn
    from tests.test_live import ListSink, assert_paired

    notes = [Note(i * 0.25, i * 0.25 + 0.2, 40 + i, 90) for i in range(40)]  # 10 s, one note every 0.25 s
    daw_clock = Pacer()
    follower_in = JackMidiIn("vmb-mtc-in")
    daw_out = JackMidiOut("daw-mtc", connect=["vmb-mtc-in:vmb-mtc-in"])
    writer = MtcWriter(daw_out.send, daw_clock.position, "25")
    sink = ListSink()
    runner_box: list[LiveRunner] = []
    follower = MtcPacer(follower_in.receive, on_seek=lambda t: runner_box[0].seek(t) if runner_box else None)
    runner = LiveRunner(ReplaySource(notes, follower), [sink], pacer=follower)
    runner_box.append(runner)
    thread = threading.Thread(target=runner.run, daemon=True)
    daw_clock.reset(0.0)
    writer.start()
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while len([e for e in sink.edges if isinstance(e, NoteOn)]) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        daw_clock.reset(7.0)  # the DAW jumps ahead: the replay goes on from 7 s
        while len([e for e in sink.edges if isinstance(e, NoteOn) and e.pitch >= 68]) < 3:
            assert time.monotonic() < deadline, sink.edges
            time.sleep(0.02)
        daw_clock.pause()  # the DAW stops: so does the replay
        time.sleep(0.5)
        held = len(sink.edges)
        time.sleep(0.5)
        assert len(sink.edges) == held
    finally:
        runner.quit()
        thread.join(10)
        writer.close()
        daw_out.close()
        follower_in.close()
    played = [e.pitch for e in sink.edges if isinstance(e, NoteOn)]
    skipped = set(range(40 + 8, 40 + 27))  # from about 2 s to 6.75 s: jumped over
    assert played[:4] == [40, 41, 42, 43] and not skipped & set(played)
    assert played == sorted(played)
    assert_paired(sink.edges)
