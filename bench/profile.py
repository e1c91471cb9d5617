"""Where a server's CPU goes under load: py-spy samples it while wrk drives one scenario.

Optional (`python -m bench --profile`, needs `pip install py-spy`); it runs after the measured
rounds, so sampling never disturbs the figures. The raw stacks are kept under var/bench/ and a
summary is printed: the share of samples in each of our functions (inclusive) and, by package,
where the time is spent itself (leaf frames).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProfileSummary", "profile_process", "summarize"]

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")
_OURS = ("services/", "shared/")
# Innermost frames of threads that only wait (py-spy cannot always tell them from busy ones):
# the thread pool's and aiosqlite's idle workers, the logging listener, the idle event loop.
_WAITING = frozenset(
    {
        ("_worker", "concurrent/futures/thread.py"),
        ("_connection_worker_thread", "aiosqlite/core.py"),
        ("Condition.wait", "threading.py"),
        ("EpollSelector.select", "selectors.py"),
    }
)


@dataclass(frozen=True)
class ProfileSummary:
    inclusive: list[tuple[str, float]]  # our functions, % of samples with them on the stack
    by_package: list[tuple[str, float]]  # % of samples whose innermost frame is in the package
    samples: int  # busy samples: those of waiting threads are left out
    raw: Path


def profile_process(pid: int, seconds: float, output: Path, cpu: int) -> subprocess.Popen[bytes]:
    """Start sampling `pid` for `seconds` (raw folded stacks into `output`); the caller waits."""
    beside = Path(sys.executable).parent / "py-spy"  # installed into the same virtualenv
    py_spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("bench: --profile needs py-spy (pip install py-spy)")
    command = [
        "taskset", "-c", str(cpu), py_spy, "record", "--pid", str(pid),
        "--duration", str(max(1, round(seconds))), "--rate", "200", "--nolineno",
        "--format", "raw", "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _package(file: str) -> str:
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if file.startswith(_OURS):
        return "/".join(file.split("/")[:2]).removesuffix(".py")
    return "python stdlib" if "/lib/python" in file or file.startswith("<") else file


def summarize(raw: Path, top: int = 14) -> ProfileSummary:
    inclusive: Counter[str] = Counter()
    leaf_package: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_FRAME.match(frame) for frame in stack.split(";")]
        parsed = [(m["function"], m["file"]) for m in frames if m is not None]
        if not parsed or parsed[-1] in _WAITING:
            continue
        samples += count
        for function, file in {frame for frame in parsed if frame[1].startswith(_OURS)}:
            inclusive[f"{file.removesuffix('.py')}:{function}"] += count
        leaf_package[_package(parsed[-1][1])] += count
    share = 100.0 / samples if samples else 0.0
    return ProfileSummary(
        [(name, count * share) for name, count in inclusive.most_common(top)],
        [(name, count * share) for name, count in leaf_package.most_common(top)],
        samples,
        raw,
    )
