"""`grbl+serial://…` (also `grbl+loop://`, `grbl+socket://`, `grbl+rfc2217://`): GRBL 1.1 motion controllers.

A CellJob becomes G-code: the lines in `job.params["gcode"]`, or by default a dwell of the job's
duration times `time_scale` (URL option). A `G4 P0` is appended because GRBL answers a dwell
only after its planner has run empty, so that `ok` means the job's moves are done, not merely
buffered. Lines are streamed with character counting against GRBL's 128-byte receive buffer.

GRBL has no job ids, so unlike our own protocol a job cut off by a lost link is not re-sent:
replaying moves on a machine whose position is unknown is unsafe. The job fails with
DriverError; after the reconnect the driver re-reads state (`?`, `$G`) and the dispatcher decides.

An `ok` is a success only if nothing interrupted the job first. The firmware prints the result of the
line it was executing when a reset breaks its wait (protocol.c: the dwell or sync returns on abort and
the main loop reports STATUS_OK), so the `ok` of an interrupted line arrives after `ALARM:3` or after
our own reset byte. Lines are therefore failed at the moment of the alarm, of the reset we send, of an
abort or a timeout, and their late replies are only consumed to keep replies and lines in step.
"""
from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass
from typing import Any

from hardware.grbl import protocol as g
from hardware.driver import CellJob, DriverError, DriverTimeout, JobRejected, JobResult
from hardware.link_driver import LinkDriver, _positive
from hardware.registry import register

RESET_ALARMS = (1, 2, 3, 6)  # alarms printed by a reset in progress (3, 6) or that block until one (hard/soft limit)
STATUS_RETRY_S = 0.25  # re-send `?` this often while waiting for a report (GRBL asks for ≤5 polls/s)
SYNC_LINE = "G4P0"


def _non_negative(value: str) -> float:
    number = float(value)
    if number < 0:
        raise ValueError("must be >= 0")
    return number


@dataclass(frozen=True)
class _Interrupted:
    reason: str
    link_lost: bool


@dataclass(eq=False)
class _Line:
    text: bytes  # cleaned, newline included: exactly what occupies GRBL's receive buffer
    future: asyncio.Future[g.Ok | g.Error | _Interrupted]


@register("grbl+serial", "grbl+loop", "grbl+socket", "grbl+rfc2217")
class GrblDriver(LinkDriver):
    OPTIONS = {**LinkDriver.OPTIONS, "time_scale": _non_negative, "status_interval": _positive(float),
               "stop_timeout": _positive(float)}
    # stop_timeout: seconds a feed hold may take to settle before the driver resets anyway (abort, timeout, connect)
    DEFAULTS = {**LinkDriver.DEFAULTS, "time_scale": 1.0, "status_interval": 0.2, "stop_timeout": 5.0}
    pipeline_depth = 2  # the next job's lines wait in the queue, so the buffer never runs dry between jobs

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.machine: g.StatusReport | None = None
        self.machine_at = 0.0
        self._last_poll = float("-inf")
        self.alarm: int | None = None
        self.parser_state = ""  # the `[GC:…]` line, re-read after every (re)connect
        self.feedback: dict[str, str] = {}
        self.messages: collections.deque[str] = collections.deque(maxlen=20)
        self.resets = 0
        self._splitter = g.LineSplitter()
        self._queue: collections.deque[_Line] = collections.deque()
        self._in_flight: collections.deque[_Line] = collections.deque()
        self._in_flight_bytes = 0
        self._status_waiters: list[asyncio.Future[g.StatusReport]] = []
        self._gated: _Line | None = None  # the `$G`/`$I` whose `ok` only counts after its feedback line
        self._gated_kind = "GC"  # that feedback line's kind (`[GC:…]`, or `[OPT:…]`, the last line of `$I`)
        self._banner_waiters: list[asyncio.Future[None]] = []
        self._reset_done = asyncio.Event()  # clear between a reset we sent and its banner
        self._reset_done.set()
        self.connect_note = ""  # what connect() found and did (a hold cancelled, an alarm waiting for $X)
        self.counters = {"unparsed_lines": 0, "stray_replies": 0}

    # --- streaming ---------------------------------------------------------------------

    def _submit(self, lines: list[str]) -> list[_Line]:
        loop = asyncio.get_running_loop()
        items = [_Line(f"{line}\n".encode("ascii"), loop.create_future()) for line in lines]
        self._queue.extend(items)
        self._pump()
        return items

    def _pump(self) -> None:
        # Character counting: a line goes out only if every byte not yet answered still fits in the buffer.
        while self._queue and self._in_flight_bytes + len(self._queue[0].text) < g.RX_BUFFER_SIZE - 1:
            item = self._queue.popleft()
            if not self._write(item.text):
                self._queue.appendleft(item)
                return
            self._in_flight.append(item)
            self._in_flight_bytes += len(item.text)

    def _interrupt_all(self, reason: str, link_lost: bool) -> None:
        for item in (*self._in_flight, *self._queue):
            if not item.future.done():
                item.future.set_result(_Interrupted(reason, link_lost))
        self._in_flight.clear()
        self._queue.clear()
        self._in_flight_bytes = 0

    def _fail_pending(self, reason: str) -> None:
        """Fail every line not yet answered, now. Lines already in GRBL's buffer stay counted until their
        late replies (or the banner of a reset) arrive; lines still queued here are never sent."""
        for item in (*self._in_flight, *self._queue):
            if not item.future.done():
                item.future.set_result(_Interrupted(reason, link_lost=False))
        self._queue.clear()

    def _on_bytes(self, data: bytes) -> None:
        for line in self._splitter.feed(data):
            try:
                msg = g.parse_line(line)
            except g.GrblParseError:
                self.counters["unparsed_lines"] += 1
                continue
            if isinstance(msg, (g.Ok, g.Error)):
                if not self._in_flight or (self._gated is self._in_flight[0] and self._gated_kind not in self.feedback):
                    self.counters["stray_replies"] += 1  # e.g. an answer to a line sent before a reconnect
                    continue
                item = self._in_flight.popleft()
                self._in_flight_bytes -= len(item.text)
                if not item.future.done():
                    item.future.set_result(msg)
                self._pump()
            elif isinstance(msg, g.StatusReport):
                self._on_status(msg)
            elif isinstance(msg, g.Alarm):
                self.alarm = msg.code
                self.messages.append(f"ALARM:{msg.code} {msg.meaning}")
                self._fail_pending(f"ALARM:{msg.code} {msg.meaning}")
                if msg.code in RESET_ALARMS:
                    self._reset_done.clear()  # a reset follows (3, 6) or is awaited (1, 2): lines now would be wiped
            elif isinstance(msg, g.Banner):
                # A reset empties GRBL's buffers: nothing in flight will be answered.
                self.resets += 1
                alarm = f" (ALARM:{self.alarm} {g.ALARMS.get(self.alarm, '')})" if self.alarm else ""
                self._interrupt_all(f"controller reset{alarm}", link_lost=False)
                self._reset_done.set()
                for waiter in self._banner_waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                self._banner_waiters.clear()
            elif isinstance(msg, g.Feedback):
                self.feedback[msg.kind] = msg.text
                if msg.kind == "MSG":
                    self.messages.append(msg.text)

    def _on_status(self, report: g.StatusReport) -> None:
        self.machine, self.machine_at = report, time.monotonic()
        if report.state != "Alarm":
            self.alarm = None
        elif self.alarm is None:
            self.alarm = 0  # in alarm, code unknown (e.g. connected after the ALARM line was sent)
        waiters, self._status_waiters = self._status_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(report)

    # --- lifecycle ---------------------------------------------------------------------

    async def _handshake(self) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.settings["connect_timeout"]
        deadline = loop.time() + timeout
        self.connect_note = ""
        # Lines sent before a reconnect may still be in GRBL's buffers and answer `ok` on the new link, and
        # replies carry no id. Wait for motion to end (their answers go out meanwhile and are stray), then
        # take as the answer to `$G` only the `ok` that follows a `[GC:…]` line.
        while True:
            report = await self._query_status(max(0.0, deadline - loop.time()))
            if report is None:
                raise DriverError(f"{self.url}: no status report to '?' within {timeout}s; is a GRBL 1.1 controller there?")
            if report.state not in ("Run", "Jog", "Home"):
                break
            if loop.time() >= deadline:
                raise DriverError(
                    f"{self.url}: controller still in {report.state} after {timeout}s (motion from before this connection); "
                    "wait for it to end, or stop it (feed hold, reset) and reconnect"
                )
        if report.state == "Door":
            raise DriverError(f"{self.url}: safety door open ({_state(report)}); GRBL takes no lines until it is closed and resumed")
        if report.state in ("Hold", "Sleep"):
            # GRBL's main loop takes no lines while suspended, so `$G` would never be answered. The held motion
            # belongs to a program from before this connection: resuming it would move the machine for nobody,
            # so cancel it. A reset from Hold:0 keeps the position (no alarm); from Sleep it leaves an alarm.
            if report.state == "Hold":
                report = await self._wait_hold_complete(deadline) or report
            found = _state(report)
            await self._reset_and_wait(max(0.1, deadline - loop.time()))
            self.connect_note = f"controller was in {found} with motion from before this connection; cancelled it with a soft reset"
            self.messages.append(self.connect_note)
        elif report.state == "Check":
            # Check mode answers `ok` without moving: jobs would "succeed" doing nothing. `$C` leaves it (and resets).
            banner = asyncio.ensure_future(self._banner(max(0.1, deadline - loop.time())))
            await asyncio.sleep(0)
            self._submit(["$C"])
            await banner
            self.connect_note = "controller was in check mode ($C); left it"
            self.messages.append(self.connect_note)
        await self._read_parser_state(max(0.0, deadline - loop.time()))
        report = await self._query_status(max(0.1, deadline - loop.time()))
        if report is not None and report.state == "Alarm":
            code = f"ALARM:{self.alarm} {g.ALARMS.get(self.alarm, '')}" if self.alarm else "alarm code not seen (raised before we connected)"
            self.connect_note = f"controller in Alarm ({code}); jobs are refused until unlock() ($X) or homing ($H)"
            self.messages.append(self.connect_note)

    async def _wait_hold_complete(self, deadline: float) -> g.StatusReport | None:
        """Poll until the hold has settled (Hold:0) or the machine left the hold; the last report, None if silent."""
        loop = asyncio.get_running_loop()
        report = None
        while loop.time() < deadline:
            report = await self._query_status(max(0.0, min(STATUS_RETRY_S * 4, deadline - loop.time())))
            if report is not None and not (report.state == "Hold" and report.substate != 0):
                return report
        return report

    async def _banner(self, timeout: float) -> bool:
        """Wait for the banner that ends a reset; whether it came."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._banner_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def _reset_and_wait(self, timeout: float) -> bool:
        """Soft reset and wait for the banner; whether it came."""
        waiter = asyncio.ensure_future(self._banner(timeout))
        await asyncio.sleep(0)
        self.soft_reset()
        return await waiter

    async def _read_parser_state(self, timeout: float) -> None:
        self.parser_state = await self._ask("$G", "GC", timeout)

    async def _identify(self) -> str | None:
        """Which controller this is, from `$I` (allowed in Idle and Alarm, which the handshake has
        ensured): `[VER:1.1h.20190825:BUILD_INFO]` then `[OPT:…]` (report.c, report_build_info).
        BUILD_INFO is the string `$I=…` stores in the board's EEPROM: set it per machine at
        commissioning, or two boards with the same firmware build cannot be told apart."""
        options = await self._ask("$I", "OPT", self.settings["connect_timeout"])
        return f"VER:{self.feedback.get('VER', '')} OPT:{options}"

    async def _ask(self, command: str, kind: str, timeout: float) -> str:
        """Send a `$` command and return its `[KIND:…]` feedback line, taking as its answer only the
        `ok` that follows that line (replies carry no id; strays from before a reconnect come first)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.feedback.pop(kind, None)
            (item,) = self._submit([command])
            self._gated, self._gated_kind = item, kind
            try:
                reply = await asyncio.wait_for(asyncio.shield(item.future), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise DriverError(f"{self.url}: no answer to {command} within {timeout:.3f}s") from None
            finally:
                self._gated = None
            if isinstance(reply, g.Ok):
                return self.feedback[kind]
            if not (isinstance(reply, _Interrupted) and not reply.link_lost):
                raise DriverError(f"{self.url}: {command} answered {reply}")
            # A reset (the power-up banner of a board that reboots when the port opens) ate it: ask again.

    def _on_link_down(self) -> None:
        self._reset_done.set()  # a reconnect re-reads the state; nothing to wait for on the old link
        self._splitter = g.LineSplitter()
        self._interrupt_all("link lost during the job; GRBL moves are not replayed after a reconnect", link_lost=True)

    # --- jobs --------------------------------------------------------------------------

    def _program(self, job: CellJob) -> list[str]:
        raw = job.params.get("gcode")
        if raw is None:
            if job.duration_s < 0:
                raise JobRejected(f"{self.url}: job {job.job_id}: duration_s={job.duration_s}; must be >= 0")
            raw = [f"G4 P{job.duration_s * self.settings['time_scale']:.3f}"]
        if not isinstance(raw, list) or not all(isinstance(line, str) for line in raw):
            raise JobRejected(f"{self.url}: job {job.job_id}: params.gcode must be a list of strings")
        lines = []
        for index, line in enumerate(raw):
            if not line.isascii() or "\n" in line or "\r" in line:
                raise JobRejected(f"{self.url}: job {job.job_id}: params.gcode[{index}] {line!r} must be one ASCII line")
            cleaned = g.clean_gcode(line)
            if len(cleaned) > g.LINE_LIMIT:
                raise JobRejected(
                    f"{self.url}: job {job.job_id}: params.gcode[{index}] has {len(cleaned)} characters without "
                    f"spaces and comments; GRBL accepts at most {g.LINE_LIMIT} (its line buffer is "
                    f"{g.LINE_BUFFER_SIZE} bytes with the terminator)"
                )
            if any(ord(c) < 0x20 or c in "?!~" for c in cleaned):  # GRBL would act on them at once, mid-line
                raise JobRejected(f"{self.url}: job {job.job_id}: params.gcode[{index}] contains a realtime command byte")
            if cleaned:
                lines.append(cleaned)
        return [*lines, SYNC_LINE]

    async def _execute(self, job: CellJob, timeout: float) -> JobResult:
        lines = self._program(job)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not await self._wait_link(deadline):
            raise DriverTimeout(f"{self.url}: job {job.job_id}: link still down after {timeout:.3f}s")
        if not self._reset_done.is_set():
            try:
                await asyncio.wait_for(self._reset_done.wait(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise DriverTimeout(f"{self.url}: job {job.job_id}: no banner after the soft reset within {timeout:.3f}s") from None
        if self.alarm is not None:
            known = f"alarm {self.alarm} ({g.ALARMS[self.alarm]})" if self.alarm in g.ALARMS else "alarm (code not seen)"
            raise JobRejected(f"{self.url}: job {job.job_id}: controller in {known}; unlock ($X) or home ($H) first")
        started = time.time()
        items = self._submit(lines)
        done, pending = await asyncio.wait([item.future for item in items], timeout=max(0.0, deadline - loop.time()))
        if pending:
            # A retry after a timeout must not add motion to motion still running: stop the machine first.
            found, stopped = await self._stop(f"job {job.job_id} timed out")
            self._trouble(f"job {job.job_id} timed out")
            raise DriverTimeout(
                f"{self.url}: job {job.job_id}: {len(pending)} of {len(items)} G-code lines unanswered after {timeout:.3f}s; "
                f"machine was {found}; {stopped}"
            )
        return self._result(job, lines, [item.future.result() for item in items], started)

    def _result(self, job: CellJob, lines: list[str], replies: list[g.Ok | g.Error | _Interrupted], started: float) -> JobResult:
        for index, reply in enumerate(replies):
            if isinstance(reply, _Interrupted):
                if reply.link_lost:
                    raise DriverError(f"{self.url}: job {job.job_id}: {reply.reason} (at line {index + 1} {lines[index]!r})")
                return JobResult(job.job_id, False, f"{reply.reason} at line {index + 1} {lines[index]!r}", started, time.time())
        errors = [f"line {i + 1} {lines[i]!r}: error:{r.code} {r.meaning}" for i, r in enumerate(replies) if isinstance(r, g.Error)]
        # GRBL keeps executing the lines after an error, so the job ran in part: report, never retry.
        return JobResult(job.job_id, not errors, "; ".join(errors), started, time.time())

    # --- status, realtime commands -----------------------------------------------------

    async def _query_status(self, timeout: float) -> g.StatusReport | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # GRBL asks for at most 5 polls a second: space them rather than answer from a stale cache.
        await asyncio.sleep(max(0.0, self._last_poll + self.settings["status_interval"] - loop.time()))
        self._last_poll = loop.time()
        while loop.time() < deadline:
            waiter: asyncio.Future[g.StatusReport] = loop.create_future()
            self._status_waiters.append(waiter)
            self._write(g.STATUS_QUERY)
            try:
                return await asyncio.wait_for(waiter, min(STATUS_RETRY_S, max(0.0, deadline - loop.time())))
            except asyncio.TimeoutError:
                continue
        return None

    async def _status(self) -> dict[str, Any]:
        report = await self._query_status(self.settings["connect_timeout"]) if self._link is not None else None
        machine = (
            {"machine_state": report.state, "substate": report.substate, "mpos": report.mpos, "feed": report.feed}
            if report
            else {"machine_state": "unreachable"}
        )
        return {**machine, "alarm": self.alarm, "parser_state": self.parser_state, "resets": self.resets,
                "connect_note": self.connect_note,
                "in_flight_bytes": self._in_flight_bytes, **self.counters, **self._link_stats()}

    async def _heartbeat(self) -> bool:
        return self._link is not None and await self._query_status(self.settings["connect_timeout"]) is not None

    def feed_hold(self) -> None:
        """`!`: decelerate and hold (Hold:1, then Hold:0). Lines in flight stay buffered and run after resume()."""
        self._write(g.FEED_HOLD)

    async def resume(self, timeout: float = 5.0) -> g.StatusReport:
        """`~`, sent only once the hold has settled: GRBL ignores cycle start during Hold:1 (protocol.c resumes
        only with SUSPEND_HOLD_COMPLETE). Returns the report after the resume; DriverTimeout names the state
        if the hold does not settle or the machine does not leave it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        report = await self._query_status(max(timeout, STATUS_RETRY_S))
        if report is None:
            raise DriverTimeout(f"{self.url}: no status report within {timeout}s; resume not sent")
        if report.state == "Hold" and report.substate != 0:
            report = await self._wait_hold_complete(deadline) or report
        if report.state != "Hold":
            return report  # nothing held: nothing to resume
        if report.substate != 0:
            raise DriverTimeout(f"{self.url}: hold still decelerating ({_state(report)}) after {timeout}s; resume not sent")
        self._write(g.CYCLE_START)
        while loop.time() < deadline:
            after = await self._query_status(max(0.0, min(STATUS_RETRY_S, deadline - loop.time())))
            if after is not None and after.state != "Hold":
                return after
            report = after or report
        raise DriverTimeout(f"{self.url}: still {_state(report)} {timeout}s after cycle start")

    def soft_reset(self) -> None:
        """0x18. Whatever is unanswered now is failed now: its `ok` may still arrive (the line GRBL was
        executing reports when the reset breaks its wait), and must not read as a success."""
        self._fail_pending("soft reset sent by the driver")
        self._reset_done.clear()  # jobs wait for the banner: lines sent before it would be wiped by the reset
        if not self._write(g.SOFT_RESET):
            self._reset_done.set()

    async def unlock(self, timeout: float = 2.0) -> None:
        """`$X`: leave the alarm state without homing (the operator vouches for the position)."""
        try:
            await asyncio.wait_for(self._reset_done.wait(), timeout)
        except asyncio.TimeoutError:
            raise DriverTimeout(f"{self.url}: no banner within {timeout}s after ALARM:{self.alarm}; GRBL waits for a "
                                "reset (soft_reset()) before it takes $X") from None
        (item,) = self._submit(["$X"])
        try:
            reply = await asyncio.wait_for(asyncio.shield(item.future), timeout)
        except asyncio.TimeoutError:
            raise DriverTimeout(f"{self.url}: no answer to $X within {timeout}s") from None
        if not isinstance(reply, g.Ok):
            raise DriverError(f"{self.url}: $X refused: {reply}")
        self.alarm = None
        await self._query_status(timeout)

    async def _stop(self, reason: str) -> tuple[str, str]:
        """Fail what is in flight, then feed hold, wait for Hold:0 (at most `stop_timeout`), soft reset: stopping
        first keeps the position, so GRBL raises no ALARM:3. (the state found, what was done)."""
        self._fail_pending(reason)
        loop = asyncio.get_running_loop()
        before = await self._query_status(STATUS_RETRY_S * 2)
        found = _state(before) if before is not None else "unknown (no status report)"
        if self._link is None:
            return found, "link down: could not stop it"
        self.feed_hold()
        held = await self._wait_hold_complete(loop.time() + self.settings["stop_timeout"])
        settled = held is not None and held.state in ("Idle", "Hold", "Alarm", "Check") and held.substate in (None, 0)
        reset = await self._reset_and_wait(self.settings["connect_timeout"])
        how = "stopped with feed hold and soft reset" if settled else (
            f"hold did not settle within {self.settings['stop_timeout']}s ({_state(held) if held else 'no report'}); "
            "reset anyway (position may be lost)")
        return found, how if reset else how + "; no banner after the reset"

    async def _abort(self, job_id: str | None) -> None:
        """GRBL cannot drop one job: every line in flight is failed, and the machine is stopped (feed hold,
        Hold:0, soft reset). Raises DriverTimeout if the reset is not acknowledged by a banner."""
        found, how = await self._stop(f"aborted by the driver (job {job_id or 'all'})")
        self.messages.append(f"abort: machine was {found}; {how}")
        if how.endswith("no banner after the reset"):
            raise DriverTimeout(f"{self.url}: abort: machine was {found}; {how}")


def _state(report: g.StatusReport | None) -> str:
    if report is None:
        return "unknown"
    where = f" at MPos {','.join(f'{v:.3f}' for v in report.mpos)}" if report.mpos else ""
    sub = f":{report.substate}" if report.substate is not None else ""
    return f"{report.state}{sub}{where}"
