"""The contract holds: schemathesis drives every operation of the OpenAPI document with valid
and invalid requests and runs all its checks (no 5xx, documented status codes, content types
and headers, response schemas, invalid data rejected, valid data accepted, 405 with Allow).
Accepted jobs wait in the queue rather than run: this test is about the interface."""
from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from gwf.service import ServiceSettings, create_app
from gwf.service.auth_store import issue_token
from web_support import TINY

load_all_checks()
ALL_CHECKS = CHECKS.get_all()

_app = create_app(ServiceSettings(data_dir=Path(tempfile.mkdtemp(prefix="gwf-contract-")), spec=TINY, allowed_hosts=["testserver"],
                                  client_rate=1e6, client_burst=10**6, max_queued_jobs=50))
_app.state.service.runner.shutdown()
# An admin may call every operation; the checks also call each without it and with a wrong one.
TOKEN = issue_token(_app.state.audit, "contract", "admin")[1]
# A spec is free text (YAML) or any object to the schema; whether it describes a floor that can
# be built, whether its demand makes at least one unit, whether a plan or twin run fits the
# server's limits, whether a driver URL's scheme exists: business rules, documented as 422 on
# these operations. Everywhere else a schema-valid request must be accepted.
BUSINESS_RULES = ("/api/spec/validate", "/api/schedules", "/api/twin", "/api/dispatch")
_config = SchemathesisConfig.from_dict({
    "generation": {"mode": "all"},
    "auth": {"openapi": {"token": {"bearer": TOKEN}}},
    "operations": [{"include-path": path, "include-method": "POST",
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2XX", "404", "409", "422", "429"]}}}
                   for path in BUSINESS_RULES],
})
schema = schemathesis.openapi.from_asgi("/openapi.json", _app, config=_config)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case: schemathesis.Case) -> None:
    if case.path == "/api/events" and isinstance(case.query, dict):
        # A valid stream lasts as long as asked: keep it short so the suite stays fast.
        wait = case.query.get("wait")
        if wait is None or (isinstance(wait, (int, float)) and not isinstance(wait, bool) and wait > 0.05):
            case.query["wait"] = 0.05
    case.call_and_validate(checks=ALL_CHECKS)
