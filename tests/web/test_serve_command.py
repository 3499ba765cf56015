"""`gwf serve` as a user runs it: a real process that answers, streams, and stops cleanly on
Ctrl-C even with a live-event stream open; a bad spec is one line and exit 2."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from web_support import TINY

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_answers_and_stops_on_interrupt_with_a_stream_open(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gwf", "serve", "--port", str(port), "--spec", str(TINY), "--data-dir", str(tmp_path)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                health = httpx.get(f"{base}/api/health", timeout=1).json()
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.05)
        assert health["spec"] == str(TINY)
        assert httpx.get(base + "/", timeout=5).text.startswith("<!doctype html>")
        with httpx.stream("GET", f"{base}/api/events", timeout=5) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            server.send_signal(signal.SIGINT)
            assert "".join(stream.iter_text()).startswith("retry:")  # the server ends the stream itself
        assert server.wait(timeout=20) in (0, 130)  # 130: the CLI's code for an interrupted command
        log = server.stdout.read() if server.stdout else ""
        assert "access: local-development mode" in log  # a fresh data dir on loopback: said at start
        assert "Application shutdown complete" in log and "Traceback" not in log and "timeout graceful shutdown exceeded" not in log
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_serve_with_a_bad_spec_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("count: 2", "count: -2"))
    done = subprocess.run([sys.executable, "-m", "gwf", "serve", "--spec", str(bad)], env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"gwf: error: {bad}: cells[0].count: -2 is outside the allowed range (1 ≤ value ≤ 50,000)"]
