"""Patient complaints: filed online or logged from a phone call, worked by team leads and managers, answered.

The text and the answer are personal health data: intake keeps them encrypted, checks whose complaint it is on every
call and records every look in its audit trail. Times are in the hospital's time zone.
"""
from __future__ import annotations

from contracts.intake.complaints import (
    Complaint,
    ComplaintFiling,
    ComplaintQuery,
    ComplaintStatusChange,
    ComplaintSummary,
)
from gateway.api import Call, Reply
from gateway.app_api import api
from wenzhen.auth import Role

TAGS = ["complaints"]
NOT_FOUND = "No such complaint, or not one the caller may see (the two are not told apart)."


@api.route("POST", "/v1/complaints", summary="File a complaint", tags=TAGS,
           allow={Role.patient, Role.consultant, Role.team_lead}, request=ComplaintFiling, response=Complaint,
           status=201, errors={404: "No such patient, or not one the account acts for.",
                               422: "A field is invalid (e.g. `reference` missing for a consultation).",
                               429: "The account filed many complaints today."})
def file_complaint(call: Call) -> Reply:
    """A patient files about a consultation, an appointment, the pharmacy or a bill, for a record their account acts
    for; a consultant or team lead logs a complaint made by phone (channel `phone`). It is acknowledged within 1 day
    and answered within 5 calendar days; past that it is escalated to managers. A complaint about a consultation
    links its transcript for the staff handling it."""
    complaint = call.rpc("intake", "file_complaint", call.body.model_dump(mode="json"))
    return Reply(complaint, 201, {"Location": f"/v1/complaints/{complaint['id']}"})


@api.route("GET", "/v1/complaints", summary="List complaints", tags=TAGS,
           allow={Role.patient, Role.team_lead, Role.manager}, query=ComplaintQuery, response=list[ComplaintSummary])
def list_complaints(call: Call) -> list:
    """Patients: the complaints their account filed or that concern the records it acts for, newest first. Team
    leads and managers: the queue, nearest deadline first (`overdue=true`: open and past the deadline)."""
    return call.rpc("intake", "list_complaints", call.query.model_dump(mode="json"))


@api.route("GET", "/v1/complaints/{complaint_id}", summary="Get a complaint", tags=TAGS,
           allow={Role.patient, Role.team_lead, Role.manager}, response=Complaint, errors={404: NOT_FOUND})
def get_complaint(call: Call, complaint_id: str) -> dict:
    """With its text, the answer once there is one, and its history. Patients do not see staff ids or internal
    notes. Every read is recorded in the audit trail."""
    return call.rpc("intake", "get_complaint", complaint_id)


@api.route("POST", "/v1/complaints/{complaint_id}/status", summary="Move a complaint on", tags=TAGS,
           allow={Role.patient, Role.team_lead, Role.manager}, request=ComplaintStatusChange, response=Complaint,
           errors={403: "A patient may only withdraw (status `closed`).", 404: NOT_FOUND,
                   409: "The complaint's current status does not allow the move (the detail names it).",
                   422: "`answer` goes with `answered`; `reason` with `closed` (required while it is unanswered)."})
def change_complaint_status(call: Call, complaint_id: str) -> dict:
    """Team leads and managers: `received → investigating` (they become the assignee), `investigating → answered`
    (with the `answer`; the patient gets an SMS saying there is one, never its text), `answered → closed`, or an
    unanswered complaint `→ closed` with a `reason` (duplicate, withdrawn, harassment). A patient may withdraw
    their own unanswered complaint (`closed`)."""
    return call.rpc("intake", "change_complaint_status", complaint_id,
                    call.body.model_dump(mode="json", exclude_none=True))
