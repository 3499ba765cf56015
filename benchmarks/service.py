"""The service under load, measured in one run against a real `gwf serve` process:

1. Idle: C concurrent clients (default 100) read plan summaries and Gantt data (a page of one
   pool's assignments and the utilisation overview) for S seconds (default 60): p50/p99 and
   errors. This is the baseline.
2. Loaded: the same reads while a planning job of the 1 GW catalog runs: p50/p99, errors,
   and p99 loaded / p99 idle.
3. Hostile (on the idle server, before 2): one client probes /api/health every 20 ms while the requests of issue #12 arrive
   (a 300-byte spec with count 3000000, count 2**63, a 50 MB body, nesting 500 deep, demand
   10,000,000): how much slower the probe's slowest answer is while each runs than in a quiet
   window of the same length.

Targets: 0 errors; p99 under load <= 100 ms; a hostile request delays others by <= 100 ms.

The clients are spread over a few processes (--client-processes); every phase reports the CPU
time the server and the clients spent per read, a figure a loaded machine inflates far less
than latency.

Usage: python benchmarks/service.py [--clients 100] [--seconds 60] [--client-processes 4] [--database-url URL]"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 100.0
TARGET_HOSTILE_MS = 100.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data_dir: Path, database_url: str | None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GWF_JOB_THREADS": "1"}
    if database_url:
        env["GWF_DATABASE_URL"] = database_url
    server = subprocess.Popen([sys.executable, "-m", "gwf", "serve", "--port", str(port), "--data-dir", str(data_dir)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("gwf serve did not start")


def wait_job(base: str, job_id: str, until: tuple[str, ...], timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = httpx.get(f"{base}/api/jobs/{job_id}", timeout=30).json()
        if job["status"] in until or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


async def readers(base: str, clients: int, seconds: float, schedule_id: str, pools: list[str], *, first: int = 0,
                  start_at: float | None = None) -> tuple[list[float], Counter]:
    """Latencies (ms) of every read of clients `first`..`first + clients - 1` and the errors by
    kind (HTTP status, or the transport failure). Each client first opens its connection with one
    read that is not timed; the timed phase starts at `start_at` (wall clock, the same for every
    reader process), or when all have opened: opening connections is a one-off cost, not what a
    reader waits for on a connection it keeps."""
    latencies: list[float] = []
    errors: Counter = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        warmed, go = [0], asyncio.Event()

        async def read(path: str, params: dict | None) -> None:
            try:
                response = await client.get(path, params=params)
                if response.status_code != 200:
                    errors[f"{path.split('/')[-1] or path} {response.status_code}"] += 1
            except httpx.HTTPError as exc:
                errors[exc.__class__.__name__] += 1

        async def one(k: int) -> None:
            reads = [("/api/schedules", None), (f"/api/schedules/{schedule_id}/utilisation", None),
                     (f"/api/schedules/{schedule_id}", {"pool": pools[k % len(pools)], "limit": 200})]
            await read(*reads[k % len(reads)])
            warmed[0] += 1
            if warmed[0] == clients:
                if start_at is not None:
                    await asyncio.sleep(max(0.0, start_at - time.time()))
                go.set()
            await go.wait()
            stop = time.monotonic() + seconds
            i = k
            while time.monotonic() < stop:
                started = time.perf_counter()
                await read(*reads[i % len(reads)])
                i += 1
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(one(k) for k in range(first, first + clients)))
    return latencies, errors


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the server process itself has used: a cost per read that the
    load other programs put on a shared machine does not inflate the way it inflates latency.
    Worker processes the server starts (planning) are not counted: they are not the read path."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, base: str, clients: int, processes: int, seconds: float, schedule_id: str,
             pools: list[str]) -> tuple[list[float], Counter, tuple[float, float]]:
    """The readers, spread over `processes` client processes (one Python process driving a
    hundred httpx clients spends more CPU per read than the server and would measure itself),
    plus the server's and the clients' CPU milliseconds per read over the phase."""
    start_at = time.time() + 5 + clients / 50  # every process has opened its connections by then
    share = [clients // processes + (i < clients % processes) for i in range(processes)]
    before = cpu_seconds(pid)
    children = [subprocess.Popen([sys.executable, __file__, "--reader", json.dumps(
                    {"base": base, "clients": n, "first": sum(share[:i]), "seconds": seconds, "schedule_id": schedule_id,
                     "pools": pools, "start_at": start_at})], stdout=subprocess.PIPE, text=True)
                for i, n in enumerate(share) if n]
    latencies: list[float] = []
    errors: Counter = Counter()
    client_cpu = 0.0
    for child in children:
        out, _ = child.communicate(timeout=seconds + 120)
        answer = json.loads(out.splitlines()[-1])
        latencies += answer["latencies"]
        errors.update(answer["errors"])
        client_cpu += answer["cpu"]
    reads = max(1, len(latencies))
    return latencies, errors, ((cpu_seconds(pid) - before) * 1000 / reads, client_cpu * 1000 / reads)


def reader_process(job: dict) -> None:
    """One client process: its share of the readers; prints latencies, errors and its CPU time
    (after start-up: opening connections included) as JSON."""
    began = time.process_time()
    latencies, errors = asyncio.run(readers(job["base"], job["clients"], job["seconds"], job["schedule_id"], job["pools"],
                                            first=job["first"], start_at=job["start_at"]))
    print(json.dumps({"latencies": latencies, "errors": dict(errors), "cpu": time.process_time() - began}))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def hostile_requests() -> list[tuple[str, str, bytes, str]]:
    tiny = (ROOT / "tests" / "specs" / "tiny.yaml").read_text()
    huge_count = tiny.replace("count: 2", "count: 3000000", 1)
    return [
        ("count 3000000", "/api/spec/validate", huge_count.encode(), "application/yaml"),
        ("count 2**63", "/api/spec/validate", tiny.replace("count: 2", f"count: {2**63}", 1).encode(), "application/yaml"),
        ("50 MB body", "/api/spec/validate", b"x" * (50 << 20), "application/yaml"),
        ("nesting 500", "/api/spec/validate", ("products: " + "[" * 500 + "]" * 500).encode(), "application/yaml"),
        ("demand 10M", "/api/schedules", json.dumps({"spec": tiny.replace("rack: 4", "rack: 10000000"), "time_limit": 1}).encode(), "application/json"),
    ]


async def hostile(base: str, folder: Path) -> list[tuple[str, int, float]]:
    """For each hostile request: its status, and how much worse the probe's slowest answer was
    while it ran than in a quiet window of the same length just before (the machine's own noise)."""
    out = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as prober:
        async def probe_for(done: asyncio.Event) -> list[float]:
            probes: list[float] = []
            while not done.is_set():
                started = time.perf_counter()
                await prober.get("/api/health")
                probes.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.02)
            return probes

        for name, path, body, media in hostile_requests():
            attacker = Attacker(base, path, body, media, folder)
            done = asyncio.Event()
            attack_probes = asyncio.create_task(probe_for(done))
            started = time.monotonic()
            status = await asyncio.to_thread(attacker.run)
            await asyncio.sleep(0.1)
            done.set()
            during = await attack_probes
            length = time.monotonic() - started
            quiet_done = asyncio.Event()
            quiet_probes = asyncio.create_task(probe_for(quiet_done))
            await asyncio.sleep(length)
            quiet_done.set()
            quiet = await quiet_probes
            out.append((name, status, max(0.0, max(during) - max(quiet))))
    return out


# The attacker is a process of its own: pushing 50 MB from a thread here would stall the probe
# in this process (the GIL) and be counted against the server.
_ATTACKER = """
import sys, httpx
url, media, path = sys.argv[1:4]
body = open(path, 'rb').read()
print('ready', flush=True)
sys.stdin.readline()
try:
    print(httpx.post(url, content=body, headers={'content-type': media}, timeout=120).status_code, flush=True)
except httpx.HTTPError:
    print(0, flush=True)  # the server closed the connection on a body it refused: also a refusal
"""


class Attacker:
    def __init__(self, base: str, path: str, body: bytes, media: str, folder: Path) -> None:
        body_file = folder / "attack.bin"
        body_file.write_bytes(body)
        self.process = subprocess.Popen([sys.executable, "-c", _ATTACKER, f"{base}{path}", media, str(body_file)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"

    def run(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        status = int(self.process.stdout.readline())
        self.process.wait(30)
        return status


def report(label: str, latencies: list[float], errors: Counter, seconds: float, cpu_ms: tuple[float, float]) -> tuple[float, float]:
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(f"{label:>7}: {len(latencies):6d} reads in {seconds:.0f} s ({len(latencies) / seconds:6.0f}/s)  "
          f"p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  CPU/read server {cpu_ms[0]:5.2f} ms client {cpu_ms[1]:5.2f} ms  "
          f"errors {sum(errors.values())} {dict(errors) or ''}", flush=True)
    return p50, p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--client-processes", type=int, default=4, help="processes the clients are spread over")
    parser.add_argument("--database-url", default=None, help="default: the SQLite file in a temporary data dir")
    parser.add_argument("--reader", help=argparse.SUPPRESS)  # internal: run as one client process
    args = parser.parse_args()
    if args.reader:
        reader_process(json.loads(args.reader))
        return 0

    with tempfile.TemporaryDirectory(prefix="gwf-bench-service-") as folder:
        server, base = start_server(Path(folder), args.database_url)
        try:
            # The plan the clients read: 8 h of the 1 GW catalog.
            first = httpx.post(f"{base}/api/schedules", json={"horizon_hours": 8, "time_limit": 10}, timeout=60).json()
            planned = wait_job(base, first["id"], ("done", "failed"))
            if planned["status"] != "done":
                raise SystemExit(f"the plan to read failed: {planned['error']}")
            schedule_id = planned["id"]
            pools = [p["name"] for p in httpx.get(f"{base}/api/schedules/{schedule_id}/utilisation", timeout=60).json()["pools"]]
            print(f"plan {schedule_id}: {planned['result']['assignments']} assignments; {args.clients} clients, "
                  f"{args.seconds:.0f} s per phase; database {httpx.get(f'{base}/api/health').json()['database']}", flush=True)

            idle, idle_errors, idle_cpu = measured(server.pid, base, args.clients, args.client_processes, args.seconds, schedule_id, pools)
            idle_p50, idle_p99 = report("idle", idle, idle_errors, args.seconds, idle_cpu)
            delays = asyncio.run(hostile(base, Path(folder)))  # on the idle server: only the attack adds load

            # Planning throughout the phase: a day of the 1 GW catalog with a long search, and two more
            # queued behind it (the server runs one job at a time here) in case the search ends early.
            jobs = [httpx.post(f"{base}/api/schedules", json={"horizon_hours": 24, "time_limit": args.seconds * 2, "seed": seed},
                               timeout=60).json()["id"] for seed in range(3)]
            wait_job(base, jobs[0], ("running", "done", "failed"))
            loaded, loaded_errors, loaded_cpu = measured(server.pid, base, args.clients, args.client_processes, args.seconds, schedule_id, pools)
            states = [httpx.get(f"{base}/api/jobs/{job}", timeout=30).json()["status"] for job in jobs]
            _, loaded_p99 = report("loaded", loaded, loaded_errors, args.seconds, loaded_cpu)
            print(f"planning jobs at the end of the loaded phase: {', '.join(states)} (one running: planned throughout); "
                  f"p99 loaded / idle = {loaded_p99 / idle_p99:.2f}", flush=True)

            for name, status, delay in delays:
                print(f"hostile {name:>13}: answered {status}, delayed others by {delay:6.1f} ms "
                      f"(bound {TARGET_HOSTILE_MS:.0f})", flush=True)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()

    worst_hostile = max(d for _, _, d in delays)
    refused = all(status in (0, 413, 422) for _, status, _ in delays)
    idle_errors, loaded_errors = sum(idle_errors.values()), sum(loaded_errors.values())
    met = (idle_errors == 0 and loaded_errors == 0 and loaded_p99 <= TARGET_P99_MS and worst_hostile <= TARGET_HOSTILE_MS and refused)
    print(f"targets: errors 0 (got {idle_errors + loaded_errors}); p99 under load {loaded_p99:.1f} ms / {TARGET_P99_MS:.0f} ms "
          f"= {loaded_p99 / TARGET_P99_MS:.2f}; worst hostile delay {worst_hostile:.1f} ms / {TARGET_HOSTILE_MS:.0f} ms "
          f"= {worst_hostile / TARGET_HOSTILE_MS:.2f}; every hostile request refused: {refused} -> {'MET' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
