"""Plugin work in a child process, so that a plugin that crashes or hangs fails alone.

The child is started with ``spawn`` (no state shared with the parent) and its stdout/stderr go to a
temporary file: plugins print freely (ZamVerb prints hundreds of lines while loading), and the last
line they printed goes into the error message when they crash.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bridge.errors import PluginError, VmbError

log = logging.getLogger(__name__)

Progress = Callable[[float], None]
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
STARTUP_SECONDS = 120  # starting Python and importing the bridge in the child, not counted in the timeout


@dataclass(frozen=True, slots=True)
class ChildTask:
    """What to run: ``target(*args, progress)``; ``label`` names the plugin(s), ``doing`` the work, ``advice``
    what to do when it crashes."""

    target: Callable[..., Any]
    args: tuple[Any, ...]
    label: str
    doing: str
    advice: str


def _child_main(task: ChildTask, conn: Connection, output: str) -> None:
    fd = os.open(output, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    logging.basicConfig(level=logging.WARNING)
    conn.send(("started", None))
    try:
        value = task.target(*task.args, lambda fraction: conn.send(("progress", fraction)))
        conn.send(("ok", value))
    except VmbError as exc:
        conn.send(("error", str(exc)))
    except Exception as exc:  # a plugin can raise anything; report it as this plugin's failure
        conn.send(("error", f"{task.label} failed while {task.doing}: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return ANSI_ESCAPE.sub("", lines[-1])[:200] if lines else ""


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


def run_isolated(task: ChildTask, timeout: float, progress: Progress | None = None) -> Any:
    """Run ``task`` in a child process and return its value; a crash, hang or error raises PluginError."""
    ctx = multiprocessing.get_context("spawn")
    handle, name = tempfile.mkstemp(prefix="vmb-plugin-", suffix=".log")
    os.close(handle)
    output = Path(name)
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child_main, args=(task, child, name), daemon=True)
    process.start()
    child.close()
    try:
        return _wait(task, process, parent, timeout, progress, output)
    finally:
        process.join(2)
        if process.is_alive():
            process.kill()
            process.join(5)
        parent.close()
        output.unlink(missing_ok=True)


def _wait(
    task: ChildTask, process: Any, conn: Connection, timeout: float, progress: Progress | None, output: Path
) -> Any:
    deadline = time.monotonic() + STARTUP_SECONDS  # the timeout counts from the child's first word
    started = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            process.kill()
            if not started:
                raise PluginError(
                    f"the child process for {task.label} did not start within {STARTUP_SECONDS} s:"
                    " the machine is overloaded or Python cannot start; try again"
                )
            raise PluginError(
                f"{task.label} did not finish {task.doing} within {timeout:g} s and was stopped:"
                " it hangs or needs longer (raise --timeout)"
            )
        if not conn.poll(min(left, 0.5)):
            continue
        try:
            kind, value = conn.recv()
        except EOFError:
            break
        if kind == "started":
            started = True
            deadline = time.monotonic() + timeout
        elif kind == "progress":
            if progress is not None:
                progress(float(value))
        elif kind == "ok":
            return value
        else:
            raise PluginError(str(value))
    process.join(5)
    said = _last_line(output)
    raise PluginError(
        f"{task.label} crashed while {task.doing} ({_how_it_ended(process.exitcode)}"
        + (f", last output: {said!r}" if said else "")
        + f"); {task.advice}"
    )
