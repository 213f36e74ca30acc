from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.errors import VmbError
from bridge.midi import read_midi, tracks_by_channel, write_midi
from bridge.service import ServiceFiles, query_status, start, status, stop
from bridge.types import Note
from tests.peers import free_udp_port


def test_start_status_stop_with_pid_log_and_recording(tmp_path: Path) -> None:
    song = tmp_path / "song.mid"
    write_midi(song, tracks_by_channel([Note(i * 0.1, i * 0.1 + 0.3, 60 + i, 90) for i in range(10)]))
    state, takes, control = tmp_path / "state", tmp_path / "takes", free_udp_port()
    pid = start(["--replay", str(song), "--realtime", "--loop", "--midi-backend", "none", "--control", str(control),
                 "--record", str(takes)], state)
    files = ServiceFiles(state)
    try:
        assert files.pid.read_text().strip() == str(pid)
        with pytest.raises(VmbError, match="already running"):
            start(["--replay", str(song)], state)
        running = status(state)
        assert running.running and running.pid == pid and "--loop" in running.live_args
        assert running.live_status is not None and running.live_status[0] == "playing"
        printed = subprocess.run([sys.executable, "-m", "bridge", "service", "--state-dir", str(state), "status"],
                                 capture_output=True, text=True, timeout=120)
        assert printed.returncode == 0 and f"pid {pid}" in printed.stdout and "state playing" in printed.stdout
        _wait_for_stream_time(state, 1.0)  # every note on of the song has been played at least once
    finally:
        assert stop(state)
    assert not files.pid.exists() and not status(state).running
    assert "vmb live ready: control on 127.0.0.1" in files.log.read_text()
    recording = next(takes.glob("*.mid"))
    assert len(read_midi(recording).notes) >= 10, "SIGTERM closed the recording into its MIDI file"
    assert query_status(control, timeout_s=0.2) is None
    assert not stop(state), "stopping a stopped service says so"


def _wait_for_stream_time(state: Path, seconds: float, patience_s: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        live = status(state).live_status
        if live is not None and float(live[1]) >= seconds:
            return
        time.sleep(0.05)
    pytest.fail(f"the service did not reach {seconds} s of stream time")


def test_a_service_that_cannot_start_says_why(tmp_path: Path) -> None:
    with pytest.raises(VmbError, match=r"stopped while starting: .*does not exist"):
        start(["--replay", str(tmp_path / "missing.mid"), "--midi-backend", "none"], tmp_path / "state")
    assert not ServiceFiles(tmp_path / "state").pid.exists()
    assert not status(tmp_path / "state").running
