"""A plan and its repair share job ids (robots.plan_id): dispatching the repair after the
original was interrupted must send the unsent jobs to the cells the repair names, not to the
down cell the original named. Jobs already sent, or moved by a decision, stay where they are."""
from __future__ import annotations

from robots import Journal
from robots.journal import new_owner


def test_unsent_jobs_follow_the_plan_being_dispatched(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    try:
        original = [(f"p:u#{k}/op", "arm-001", f"u#{k}", "op") for k in range(4)]
        journal.enqueue("p", original)
        journal.claim("p:u#0/op", new_owner(), 60.0)  # sent to arm-001 before the dispatcher died
        journal.reassign("p", [("p:u#1/op", "arm-001", "arm-003", "arm-001 went down")])
        repaired = [(jid, "arm-002", job, op) for jid, _, job, op in original]
        assert journal.enqueue("p", repaired) == 0  # no new jobs: the same work
        cells = journal.cells("p")
        assert cells["p:u#0/op"] == "arm-001"  # underway there: its outcome is that cell's
        assert cells["p:u#1/op"] == "arm-003"  # a decision's move stands
        assert cells["p:u#2/op"] == cells["p:u#3/op"] == "arm-002"
        assert set(journal.states("p").values()) == {"queued", "underway"}
    finally:
        journal.close()
