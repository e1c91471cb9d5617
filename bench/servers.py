"""Starting the servers under test as real processes pinned to one CPU; their peak memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["Server", "free_port", "start_server"]

_STARTUP_TIMEOUT = 60.0
_REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def peak_rss_mib(self) -> float:
        """VmHWM: the most resident memory the process has held since it started."""
        return _status_kib(self.process.pid, "VmHWM") / 1024

    def rss_mib(self) -> float:
        return _status_kib(self.process.pid, "VmRSS") / 1024

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} stopped (exit {self.process.returncode}):\n{tail}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def start_server(
    name: str,
    command: Sequence[str],
    *,
    port: int,
    cpu: int,
    environ: Mapping[str, str],
    log_dir: Path,
) -> Server:
    """Start `command` (a Python module and arguments) pinned to `cpu`; wait for /healthz."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            ["taskset", "-c", str(cpu), sys.executable, "-m", *command],
            env={**os.environ, **environ},
            cwd=_REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_healthy(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            server.check_alive()
            try:
                if client.get(f"{server.url}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer /healthz within {_STARTUP_TIMEOUT:.0f} s")
