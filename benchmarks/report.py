"""Writes benchmark figures to docs/benchmarks.md with the machine, the date and the command."""

from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = found.group(1).strip() if found else ""
    system = f"{platform.system()} {platform.release()}"
    return f"{model or cpu}, {os.cpu_count()} cores, {system}, Python {platform.python_version()}"


def write_section(name: str, lines: list[str], command: str = "make bench") -> None:
    """Replace (or add) the section ``## name`` of docs/benchmarks.md."""
    header = f"## {name}"
    stamp = [
        header, "",
        f"- machine: {machine()}",
        f"- date: {datetime.date.today().isoformat()}",
        f"- command: `{command}`",
        "", *lines, "",
    ]
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\nFigures written by `make bench`; see each section.\n\n"
    pattern = re.compile(rf"^{re.escape(header)}\n.*?(?=^## |\Z)", re.S | re.M)
    body = "\n".join(stamp) + "\n"
    text = pattern.sub(body, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + body
    DOC.write_text(text)
