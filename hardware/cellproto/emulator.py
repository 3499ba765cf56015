"""A cell controller speaking our protocol on a pty, with scaled job time, a journal and injected line faults.

    python -m hardware.cellproto.emulator [--baud 115200] [--time-scale X] [--journal PATH]
        [--corrupt 0.01] [--drop 0.01] [--disconnect-every N] [--down S] [--delay S] [--seed N]

Prints the device path on its first line, then serves until SIGTERM/SIGINT. Faults:
`--corrupt P` flips one bit in a fraction P of the frames it sends and treats a fraction P of
the frames it receives as failing their CRC; `--drop P` loses a fraction P of frames each
way; `--delay S` adds S seconds of latency to every frame it sends (a USB adapter's latency
timer); `--disconnect-every N` closes the pty after every N executed jobs and reopens it
after `--down` seconds (see hardware/pty_port.py), while the controller keeps executing
its queue, as a cell does when only its cable is pulled.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from hardware.cellproto import frames as f
from hardware.pty_port import PtyPort, announce_and_wait, device_path

QUEUE_LIMIT = 256  # jobs a controller holds; more are NAKed QUEUE_FULL


@dataclass(frozen=True)
class Faults:
    corrupt: float = 0.0
    drop: float = 0.0
    disconnect_every: int = 0
    down_s: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("corrupt", "drop"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"--{name}: {value} must be a fraction in [0, 1)")
        if self.disconnect_every < 0:
            raise ValueError(f"--disconnect-every: {self.disconnect_every} must be 0 (never) or a job count")


class Journal:
    """Append-only record of executed jobs, one `job_id<TAB>ok<TAB>started<TAB>finished<TAB>submission<TAB>detail` line each.

    Read back at start, so a restarted controller still recognises ids it executed before."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.results: dict[str, f.Result] = {}
        self.submissions: dict[str, int] = {}  # which request ran each job, to tell re-sends from duplicates
        self._file: TextIO | None = None
        if path is None:
            return
        if os.path.exists(path):
            with open(path, encoding="utf-8") as existing:
                for line in existing:
                    job_id, ok, started, finished, submission, detail = line.rstrip("\n").split("\t", 5)
                    self.results[job_id] = f.Result(0, job_id, ok == "1", True, float(started), float(finished), detail)
                    self.submissions[job_id] = int(submission)
        self._file = open(path, "a", encoding="utf-8")

    def record(self, result: f.Result, submission: int) -> None:
        self.results[result.job_id] = result
        self.submissions[result.job_id] = submission
        if self._file is not None:
            detail = " ".join(result.detail.split())  # tabs and newlines would break the line format
            times = f"{result.started_at:.6f}\t{result.finished_at:.6f}"
            self._file.write(f"{result.job_id}\t{int(result.ok)}\t{times}\t{submission}\t{detail}\n")
            self._file.flush()  # a crash of the emulator must not lose the evidence of what it executed

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class CellController:
    """Protocol side of the emulator: answers frames, executes queued jobs in order, one at a time."""

    def __init__(self, port_path: str, baud: int, time_scale: float, journal: Journal, faults: Faults, delay: float = 0.0) -> None:
        self.port = PtyPort(port_path, baud, self._on_bytes, latency=delay)
        self.time_scale = time_scale
        self.journal = journal
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.decoder = f.FrameDecoder()
        self.queue: collections.OrderedDict[str, f.Job] = collections.OrderedDict()
        self.current: f.Job | None = None
        self.executed_since_disconnect = 0
        self.seq = 0
        self._work = asyncio.Event()
        self._abort_current = asyncio.Event()

    # --- wire ---------------------------------------------------------------------------

    def send(self, msg: f.Message) -> None:
        self.seq = (self.seq + 1) & 0xFF
        msg = _with_seq(msg, self.seq)
        if self.faults.drop and self.rng.random() < self.faults.drop:
            return
        data = f.encode(msg)
        if self.faults.corrupt and self.rng.random() < self.faults.corrupt:
            flipped = bytearray(data)
            flipped[self.rng.randrange(len(flipped))] ^= 1 << self.rng.randrange(8)
            data = bytes(flipped)
        self.port.send(data)

    def _on_bytes(self, data: bytes) -> None:
        for item in self.decoder.feed(data):
            if isinstance(item, f.BadMessage):
                reason = f.NakReason.UNKNOWN_TYPE if item.unknown_type else f.NakReason.MALFORMED
                self.send(f.Nak(0, item.seq, reason))
            elif isinstance(item, f.ProtocolError):
                self.send(f.Nak(0, 0, f.NakReason.CRC))
            elif self.faults.drop and self.rng.random() < self.faults.drop:
                continue
            elif self.faults.corrupt and self.rng.random() < self.faults.corrupt:
                self.send(f.Nak(0, 0, f.NakReason.CRC))
            else:
                self.handle(item)

    # --- protocol -----------------------------------------------------------------------

    def handle(self, msg: f.Message) -> None:
        if isinstance(msg, f.Job):
            self._on_job(msg)
        elif isinstance(msg, f.StatusReq):
            self.send(self.status())
        elif isinstance(msg, f.Abort):
            self._on_abort(msg)
        else:
            # ACK/NAK/RESULT/STATUS only ever travel controller -> driver.
            self.send(f.Nak(0, msg.seq, f.NakReason.UNKNOWN_TYPE))

    def status(self) -> f.Status:
        state = f.ControllerState.EXECUTE if self.current else f.ControllerState.IDLE
        return f.Status(0, state, len(self.queue), len(self.journal.results), self.current.job_id if self.current else "")

    def _on_job(self, job: f.Job) -> None:
        done = self.journal.results.get(job.job_id)
        if done is not None:
            self.send(f.Ack(0, job.seq, f.Disposition.DONE))
            duplicate = self.journal.submissions.get(job.job_id) != job.submission
            self.send(f.Result(0, done.job_id, done.ok, duplicate, done.started_at, done.finished_at, done.detail))
        elif job.job_id in self.queue or (self.current and self.current.job_id == job.job_id):
            self.send(f.Ack(0, job.seq, f.Disposition.IN_PROGRESS))
        elif len(self.queue) >= QUEUE_LIMIT:
            self.send(f.Nak(0, job.seq, f.NakReason.QUEUE_FULL))
        else:
            self.queue[job.job_id] = job
            self.send(f.Ack(0, job.seq, f.Disposition.ACCEPTED))
            self._work.set()

    def _on_abort(self, msg: f.Abort) -> None:
        dropped = [msg.job_id] if msg.job_id else list(self.queue)
        for job_id in dropped:
            if self.queue.pop(job_id, None) is not None:
                now = time.time()
                self.send(f.Result(0, job_id, False, False, now, now, "aborted before start"))
        if self.current and (not msg.job_id or msg.job_id == self.current.job_id):
            self._abort_current.set()
        self.send(f.Ack(0, msg.seq, f.Disposition.ACCEPTED))

    async def run_jobs(self) -> None:
        while True:
            if not self.queue:
                self._work.clear()
                await self._work.wait()
                continue
            _, job = self.queue.popitem(last=False)
            self.current = job
            self._abort_current.clear()
            started = time.time()
            ok, detail = await self._perform(job)
            result = f.Result(0, job.job_id, ok, False, started, time.time(), detail)
            self.current = None
            self.journal.record(result, job.submission)
            self.send(result)
            self.executed_since_disconnect += 1
            if self.faults.disconnect_every and self.executed_since_disconnect >= self.faults.disconnect_every:
                self.executed_since_disconnect = 0
                await self.port.disconnect(self.faults.down_s)

    async def _perform(self, job: f.Job) -> tuple[bool, str]:
        seconds = job.duration_ms / 1000 * self.time_scale
        if seconds > 0:
            try:
                await asyncio.wait_for(self._abort_current.wait(), seconds)
                return False, "aborted while executing"
            except asyncio.TimeoutError:
                pass
        else:
            await asyncio.sleep(0)
        params = json.loads(job.params) if job.params else {}
        if isinstance(params, dict) and params.get("fail"):
            return False, str(params["fail"])  # lets tests and demos ask for a failing operation
        return True, ""


def _with_seq(msg: f.Message, seq: int) -> f.Message:
    return dataclasses.replace(msg, seq=seq)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hardware.cellproto.emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--baud", type=int, default=115200, help="line rate whose byte time is emulated")
    parser.add_argument("--time-scale", type=float, default=0.0, help="job seconds per nominal second (0: instant)")
    parser.add_argument("--journal", default=None, help="append-only file of executed job ids")
    parser.add_argument("--corrupt", type=float, default=0.0, help="fraction of frames with a flipped bit")
    parser.add_argument("--drop", type=float, default=0.0, help="fraction of frames lost")
    parser.add_argument("--disconnect-every", type=int, default=0, help="close the pty after every N jobs")
    parser.add_argument("--down", type=float, default=0.2, help="seconds the device stays away on a disconnect")
    parser.add_argument("--delay", type=float, default=0.0, help="extra latency in seconds on every frame sent")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injector")
    parser.add_argument("--link", default=None, help="device path to create (default: a fresh temp path)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    faults = Faults(args.corrupt, args.drop, args.disconnect_every, args.down, args.seed)
    if args.time_scale < 0 or args.delay < 0:
        raise ValueError("--time-scale and --delay: must be >= 0")
    link = device_path(args.link, "cell")
    journal = Journal(args.journal)
    controller = CellController(link, args.baud, args.time_scale, journal, faults, args.delay)
    controller.port.open()
    worker = asyncio.create_task(controller.run_jobs())

    async def cleanup() -> None:
        worker.cancel()
        controller.port.close()
        controller.port.remove_path()
        journal.close()

    await announce_and_wait(link, cleanup)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    try:
        asyncio.run(serve(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
