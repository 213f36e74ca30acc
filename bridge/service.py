"""The live bridge as a background service: ``vmb live`` detached, with a pid file, a log file and a state file.

Files live in the state folder (``$VMB_STATE_DIR``, else ``$XDG_STATE_HOME/vmb``, else
``~/.local/state/vmb``): ``live.pid``, ``live.log`` (appended) and ``live.json`` (the arguments). Stopping
sends SIGTERM, which silences every note and closes the recording; a service that does not end within
the timeout is killed, and its recording is recovered from the journal.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import VmbError
from bridge.journal import recover
from bridge.osc import OscArg, decode, encode

log = logging.getLogger(__name__)


def state_dir() -> Path:
    explicit = os.environ.get("VMB_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vmb"


@dataclass(frozen=True, slots=True)
class ServiceFiles:
    folder: Path

    @property
    def pid(self) -> Path:
        return self.folder / "live.pid"

    @property
    def log(self) -> Path:
        return self.folder / "live.log"

    @property
    def state(self) -> Path:
        return self.folder / "live.json"


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    running: bool
    pid: int | None
    live_args: tuple[str, ...]
    log: Path
    live_status: tuple[OscArg, ...] | None = None


def _alive(pid: int) -> bool:
    """A live process that is ours (a zombie or a reused pid of another program does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
            return b"live" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, IndexError):
            return False
    return True


def _read_pid(files: ServiceFiles) -> int | None:
    try:
        return int(files.pid.read_text().strip())
    except (OSError, ValueError):
        return None


READY_PREFIX = "vmb live ready: "  # the line vmb live writes once its outputs are open


def start(live_args: list[str], folder: Path | None = None, ready_timeout_s: float = 60.0) -> int:
    """Start ``vmb live LIVE_ARGS`` in the background and wait until it is ready; returns its pid.

    Fails with the service's own error message if it stops while starting.
    """
    files = ServiceFiles(folder or state_dir())
    pid = _read_pid(files)
    if pid is not None and _alive(pid):
        raise VmbError(f"the live service is already running (pid {pid}): run vmb service stop first")
    files.folder.mkdir(parents=True, exist_ok=True)
    with open(files.log, "ab") as log_file:
        log_file.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} vmb live {' '.join(live_args)}\n".encode())
        log_file.flush()
        offset = log_file.tell()
        child = subprocess.Popen([sys.executable, "-m", "bridge", "live", *live_args], stdin=subprocess.DEVNULL,
                                 stdout=log_file, stderr=log_file, start_new_session=True, close_fds=True)
    files.pid.write_text(f"{child.pid}\n")
    files.state.write_text(json.dumps({"pid": child.pid, "live_args": live_args, "started": time.time()}) + "\n")
    deadline = time.monotonic() + ready_timeout_s
    while not _ready(files.log, offset):
        if child.poll() is not None:
            files.pid.unlink(missing_ok=True)
            raise VmbError(f"the live service stopped while starting: {_last_line(files.log, offset)} "
                           f"(log: {files.log})")
        if time.monotonic() > deadline:
            log.warning("the live service (pid %d) is still starting after %g s; see %s", child.pid,
                        ready_timeout_s, files.log)
            break
        time.sleep(0.05)
    return child.pid


def _new_lines(path: Path, offset: int) -> list[str]:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return [line for line in handle.read().decode(errors="replace").splitlines() if line.strip()]


def _ready(path: Path, offset: int) -> bool:
    return any(line.startswith(READY_PREFIX) for line in _new_lines(path, offset))


def _last_line(path: Path, offset: int = 0) -> str:
    lines = _new_lines(path, offset)
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1]


def stop(folder: Path | None = None, timeout_s: float = 10.0) -> bool:
    """SIGTERM the service and wait; SIGKILL after ``timeout_s`` and recover its recording. False if not running."""
    files = ServiceFiles(folder or state_dir())
    pid = _read_pid(files)
    if pid is None or not _alive(pid):
        files.pid.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        log.warning("the live service (pid %d) did not stop within %g s: killing it", pid, timeout_s)
        os.kill(pid, signal.SIGKILL)
        record = _option(_live_args(files), "--record")
        if record is not None:
            recover(Path(record))
    files.pid.unlink(missing_ok=True)
    return True


def _live_args(files: ServiceFiles) -> list[str]:
    try:
        return [str(a) for a in json.loads(files.state.read_text()).get("live_args", [])]
    except (OSError, ValueError, AttributeError):
        return []


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def status(folder: Path | None = None) -> ServiceStatus:
    files = ServiceFiles(folder or state_dir())
    pid = _read_pid(files)
    running = pid is not None and _alive(pid)
    args = _live_args(files)
    live = None
    control = _option(args, "--control")
    if running and control is not None and control.isdigit():
        live = query_status(int(control))
    return ServiceStatus(running, pid if running else None, tuple(args), files.log, live)


def query_status(port: int, host: str = "127.0.0.1", timeout_s: float = 1.0) -> tuple[OscArg, ...] | None:
    """Ask a running ``vmb live --control PORT`` for its /vmb/status; None when it does not answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(timeout_s)
        try:
            client.sendto(encode("/vmb/status"), (host, port))
            address, args = decode(client.recvfrom(65536)[0])[0]
        except (OSError, VmbError, IndexError):
            return None
    return args if address == "/vmb/status" else None
