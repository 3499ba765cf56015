"""Starts the emulators as subprocesses on real ptys, so tests drive the real serial code."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from typing import Iterator

import pytest


@contextlib.contextmanager
def run_emulator(module: str, *args: str) -> Iterator[str]:
    """Yields the device path an emulator prints on its first line; stops it afterwards."""
    with emulator_process(module, *args) as (_, path):
        yield path


@contextlib.contextmanager
def emulator_process(module: str, *args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """(process, device path or endpoint) of an emulator, for tests that kill it themselves;
    stopped afterwards if it still runs."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path, f"{module} printed no device path (exit code {proc.poll()})"
        yield proc, path
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def journal_path(tmp_path) -> str:
    return str(tmp_path / "journal.tsv")


def journal_ids(path: str) -> list[str]:
    with open(path, encoding="utf-8") as journal:
        return [line.split("\t", 1)[0] for line in journal]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now (for servers that must restart on the same port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
