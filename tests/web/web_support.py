"""Shared by the service tests (a module name of its own: several test folders have a conftest)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

TINY = Path(__file__).resolve().parent.parent / "specs" / "tiny.yaml"


def wait_for_job(client: TestClient, job_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Poll until the job has ended (a generous cap only to fail rather than hang)."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled", "interrupted") or time.monotonic() > deadline:
            return job
        time.sleep(0.02)
