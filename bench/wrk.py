"""Running wrk (pinned to the load CPU) with requests.lua over a file of pre-built requests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

__all__ = ["PreparedRequest", "WrkResult", "require_wrk", "run_wrk", "write_requests"]

_SCRIPT = Path(__file__).resolve().parent / "requests.lua"
_MARKER = "BENCH-RESULT "


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    method: str
    path: str
    token: str | None = None
    body: bytes | None = None


class WrkResult(msgspec.Struct, frozen=True):
    requests: int
    duration_us: int
    non_2xx: int
    socket_errors: int
    p50_us: int
    p99_us: int
    wraps: int

    @property
    def per_second(self) -> float:
        return self.requests / (self.duration_us / 1e6)

    @property
    def valid(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0 and self.wraps == 0


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("bench: wrk is not installed; install it with: apt-get install -y wrk")
    return path


def write_requests(path: Path, requests: Iterable[PreparedRequest]) -> int:
    """Write the request file requests.lua reads; return how many lines."""
    count = 0
    with path.open("wb") as output:
        for request in requests:
            body = request.body if request.body is not None else b"-"
            if b"\t" in body or b"\n" in body:
                raise ValueError("a request body must be compact JSON")
            fields = (request.method, request.path, request.token or "-")
            output.write("\t".join(fields).encode("ascii") + b"\t" + body + b"\n")
            count += 1
    return count


def run_wrk(
    base_url: str, request_file: Path, *, connections: int, seconds: float, cpu: int
) -> WrkResult:
    """One closed-loop run of `connections` connections for `seconds`; one wrk thread."""
    if not base_url.startswith("http://127.0.0.1:"):
        raise ValueError("the benchmark only targets 127.0.0.1")
    command = [
        "taskset",
        "-c",
        str(cpu),
        require_wrk(),
        "-t",
        "1",
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(_SCRIPT),
        base_url,
        "--",
        str(request_file),
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in completed.stdout.splitlines():
        if line.startswith(_MARKER):
            return msgspec.json.decode(line.removeprefix(_MARKER), type=WrkResult)
    raise RuntimeError(f"wrk gave no result (exit {completed.returncode}): {completed.stderr}")
