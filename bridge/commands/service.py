"""``vmb service start|stop|status``: the live bridge in the background, with a pid file and a log file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bridge.errors import VmbError
from bridge.service import ServiceFiles, start, state_dir, status, stop

NAME = "service"
HELP = "run vmb live in the background: start LIVE-OPTIONS, stop, status"
EXAMPLE = "vmb service start --camera 0 --calibration keys.json --daw ableton --control 9001 --record takes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, help="where the pid, log and state files go "
                        "(default: $VMB_STATE_DIR, else $XDG_STATE_HOME/vmb, else ~/.local/state/vmb)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds stop waits before killing")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("live_args", nargs=argparse.REMAINDER, help="for start: the options of vmb live")


def run(args: argparse.Namespace) -> int:
    folder = args.state_dir or state_dir()
    files = ServiceFiles(folder)
    if args.action != "start" and args.live_args:
        raise VmbError(f"vmb service {args.action} takes no live options: give them to vmb service start")
    if args.action == "start":
        if not args.live_args:
            raise VmbError("vmb service start needs the options of vmb live, e.g. --camera 0 --control 9001")
        pid = start(list(args.live_args), folder)
        print(f"vmb live started in the background (pid {pid}); log: {files.log}")
        return 0
    if args.action == "stop":
        if stop(folder, args.timeout):
            print("vmb live stopped")
            return 0
        print("vmb live was not running")
        return 1
    state = status(folder)
    if not state.running:
        print(f"vmb live is not running (log: {state.log})")
        return 3  # as systemctl and LSB status do
    print(f"vmb live is running (pid {state.pid}): vmb live {' '.join(state.live_args)}")
    if state.live_status is not None:
        mode, t, sounding, steps, dropped = (list(state.live_status) + [None] * 5)[:5]
        print(f"state {mode}, at {t:.1f} s, {sounding} notes sounding, {steps} steps, {dropped} messages dropped")
    print(f"log: {state.log}" + ("" if os.access(state.log, os.R_OK) else " (not readable)"))
    return 0
