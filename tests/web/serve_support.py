"""Real `gwf serve` processes for the tests that kill and restart them."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    """One `gwf serve` process on a free port, with extra GWF_* settings from `env`."""

    def __init__(self, data_dir: Path, spec: Path | None = None, **env: Any) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "gwf", "serve", "--port", str(self.port), "--data-dir", str(data_dir)]
        if spec is not None:
            command += ["--spec", str(spec)]
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                       **{f"GWF_{k.upper()}": str(v) for k, v in env.items() if v is not None}}
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(command, env=environment, stdout=self._log_file, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.base, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client.get("/api/health").raise_for_status()
                break
            except httpx.TransportError:
                assert self.process.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, "gwf serve did not start"
                time.sleep(0.05)

    def wait_job(self, job_id: str, until: tuple[str, ...] = ("done", "failed", "interrupted"), timeout_s: float = 120) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.client.get(f"/api/jobs/{job_id}")
            assert response.status_code == 200, f"{response.status_code} {response.text}\n{self.log.read_text()[-4000:]}"
            job = response.json()
            if job["status"] in until or time.monotonic() > deadline:
                return job
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine loses power or the OOM killer strikes."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.close()

    def close(self) -> None:
        self.client.close()
        self._log_file.close()
