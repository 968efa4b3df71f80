"""The audit trail, for admins: search it, export it as FHIR AuditEvents, check the chains."""
from __future__ import annotations

import json

from pydantic import BaseModel, Field

from gateway.api import Call, Reply
from gateway.app_api import api
from wenzhen.audit import AuditQuery, Verdict, merge, to_fhir
from wenzhen.auth import Role
from wenzhen.config import SERVICES

TAGS = ["audit"]
ADMIN = {Role.admin}
FHIR_JSON = "application/fhir+json"


class AuditEntity(BaseModel):
    type: str
    id: str | None = None


class AuditAgent(BaseModel):
    kind: str = Field(description="user, service or anonymous")
    id: str | None = None
    role: str | None = None


class AuditOrigin(BaseModel):
    ip: str | None = None
    request_id: str | None = None


class AuditEntry(BaseModel):
    id: str
    service: str = Field(description="The service that holds the data and recorded the entry.")
    recorded: str
    action: str = Field(description="C R U D E (FHIR AuditEvent.action)")
    subtype: str = Field(examples=["read", "create", "login", "search"])
    outcome: str = Field(description="success, denied or failed")
    entity: AuditEntity
    patient_id: str | None = None
    agent: AuditAgent
    purpose: str
    origin: AuditOrigin
    detail: str | None = None
    seq: int | None = Field(default=None, description="Position in the service's hash chain (absent until sealed, "
                                                      "within a second).")


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_before: str | None = Field(default=None, description="Pass as `before` for the next (older) page.")
    incomplete: list[str] = Field(default_factory=list, description="Services that did not answer in time.")


def _search(call: Call) -> dict:
    query = call.query.model_dump(mode="json", exclude_none=True)
    pages, failed = call.rpc_each(SERVICES, "audit_events", query)
    items = merge(list(pages.values()), call.query.limit)
    more = len(items) == call.query.limit
    return {"items": items, "next_before": items[-1]["id"] if more else None, "incomplete": failed}


@api.route("GET", "/v1/audit-events", summary="Search the audit trail", tags=TAGS, allow=ADMIN, query=AuditQuery,
           response=AuditPage)
def search_audit(call: Call) -> dict:
    """Newest first, across every service. The search itself is recorded in the audit trail."""
    return _search(call)


@api.route("GET", "/v1/audit-events/fhir", summary="The audit trail as FHIR R4 AuditEvents", tags=TAGS,
           allow=ADMIN, query=AuditQuery, content_type=FHIR_JSON)
def search_audit_fhir(call: Call) -> Reply:
    """The same search as a FHIR `Bundle` (type `searchset`) of `AuditEvent` resources."""
    page = _search(call)
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(page["items"]),
              "entry": [{"fullUrl": f"urn:wenzhen:audit:{item['id']}", "resource": to_fhir(item)}
                        for item in page["items"]]}
    return Reply(json.dumps(bundle, ensure_ascii=False), 200)


@api.route("GET", "/v1/audit-chain", summary="Check every service's audit chain", tags=TAGS, allow=ADMIN,
           response=list[Verdict])
def verify_chains(call: Call) -> list:
    """Walks each hash chain and reports the first broken link (an altered, deleted or cut-off entry), also against
    the newest checkpoint each service published (kept by reports, outside the service's database). The same check
    runs offline as `make audit-verify`."""
    checkpoints = call.rpc("reports", "audit_checkpoints")
    verdicts, failed = call.rpc_each(SERVICES, "audit_verify", checkpoints)
    missing = [Verdict(service=name, entries=0, head_seq=0, intact=False, reason="did not answer").model_dump()
               for name in failed]
    return [verdicts[name] for name in SERVICES if name in verdicts] + missing
