"""Long twin jobs go to the Dask cluster when the service has one (`GWF_DASK_SCHEDULER`), short
ones stay on the server; the same seed gives the same numbers either way."""
from __future__ import annotations

from pathlib import Path

from dask import distributed
from fastapi.testclient import TestClient

from gwf.service import ServiceSettings, create_app
from web_support import TINY, wait_for_job



def test_a_long_twin_job_runs_on_the_cluster_with_the_same_numbers(tmp_path: Path) -> None:
    body = {"weeks": 2, "replications": 3, "seed": 11}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        settings = ServiceSettings(data_dir=tmp_path, spec=TINY, allowed_hosts=["testserver"], dask_scheduler=cluster.scheduler_address,
                                   dask_min_replication_weeks=6)  # 2 weeks x 3 replications: long enough
        with TestClient(create_app(settings)) as client:
            job_id = client.post("/api/twin", json=body).json()["id"]
            remote = wait_for_job(client, job_id, timeout_s=60)
            feed = client.get("/api/events", params={"since": 0, "wait": 0.2}).text
            short = wait_for_job(client, client.post("/api/twin", json={**body, "replications": 2}).json()["id"], timeout_s=60)
            ran_there = [name for name in cluster.scheduler.task_prefixes if name.startswith("run_replication")]
    assert remote["status"] == "done", remote
    assert f"on the Dask cluster at {settings.dask_scheduler}" in feed
    assert short["status"] == "done" and "Dask" not in str(short["progress"])
    assert ran_there  # the cluster's scheduler saw the replications
    with TestClient(create_app(ServiceSettings(data_dir=tmp_path / "here", spec=TINY, allowed_hosts=["testserver"]))) as client:
        local = wait_for_job(client, client.post("/api/twin", json=body).json()["id"], timeout_s=60)
    assert local["result"]["gw_per_week"] == remote["result"]["gw_per_week"]
