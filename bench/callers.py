"""The bench's signed-in callers, made the way people are (deploy.client, through the gateway): a patient who
signed up with the code from the bench stack's SMS sink and registered their own record, and a consultant,
created and activated through the first admin (bootstrapped over RPC, as ``make admin`` does), put on the desk's
roster by a team lead, with a shift on duty for the run, and on the desk."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bench.isolated import BenchStack
from deploy.admin import bootstrap
from deploy.client import Api, SmsInbox, activate_staff, sign_up_patient
from wenzhen.timez import hospital_zone

PATIENT_PHONE = "13000000000"
PATIENT = {"name": "压测患者", "sex": "female", "birth_date": "1990-03-04", "phone": PATIENT_PHONE,
           "relationship": "self"}


@dataclass(frozen=True)
class Callers:
    patient_id: str
    patient_token: str = field(repr=False)
    consultant_token: str = field(repr=False)
    patient_login: str = field(repr=False)  # the JSON body of POST /v1/auth/login for the patient
    admin_token: str = field(default="", repr=False)  # the first admin's, to create further staff (bench/booking.py)
    consultant_id: str = ""


def sign_in(stack: BenchStack) -> Callers:
    api = Api(stack.gateway_url())
    password = _password()
    patient = sign_up_patient(api, SmsInbox(Path(stack.env["SMS_SINK_FILE"])), PATIENT_PHONE, password)
    record = patient.as_user.post("/v1/patients", PATIENT)
    patient.refresh()  # the new token lists the record

    admin = bootstrap(stack.amqp_uri, "bench.admin", "压测管理员")
    admin_session = activate_staff(api, admin["username"], admin["activation_code"], _password())
    staff = admin_session.as_user.post("/v1/staff", {"username": "bench.consultant", "name": "压测咨询员",
                                                     "role": "consultant", "department": "outpatient"})
    consultant = activate_staff(api, staff["username"], staff["activation_code"], _password())
    _on_the_desk(api, admin_session.as_user, consultant)
    return Callers(patient_id=record["id"], patient_token=patient.tokens["access_token"],
                   consultant_token=consultant.tokens["access_token"],
                   patient_login=json.dumps({"login": PATIENT_PHONE, "password": password}),
                   admin_token=admin_session.tokens["access_token"], consultant_id=consultant.account_id)


def _on_the_desk(api: Api, admin: Api, consultant) -> None:
    """A team lead puts the consultant on the desk's roster (every shift), and the consultant goes on the desk: only
    then are chats theirs to take (bench/chat.py)."""
    lead = admin.post("/v1/staff", {"username": "bench.lead", "name": "压测组长", "role": "team_lead",
                                    "department": "outpatient"})
    lead_session = activate_staff(api, lead["username"], lead["activation_code"], _password())
    lead_api = lead_session.as_user
    now = datetime.now(hospital_zone())
    keep = ("code", "name_zh", "name_en", "start", "end", "weekdays", "team_lead_id")
    table = [{k: s[k] for k in keep if k in s} for s in lead_api.get("/v1/desk/shifts") if s["code"] != "bench"]
    table.append({"code": "bench", "name_zh": "压测班", "name_en": "Bench shift",  # on duty for the whole run
                  "start": (now - timedelta(hours=1)).strftime("%H:00"),
                  "end": (now + timedelta(hours=3)).strftime("%H:00"), "team_lead_id": lead_session.account_id})
    lead_api.call("PUT", "/v1/desk/shifts", {"shifts": table})
    lead_api.call("PUT", f"/v1/desk/roster/{consultant.account_id}",
                  {"skills": [], "max_chats": 5, "shifts": [s["code"] for s in table]})
    consultant.as_user.call("PUT", "/v1/desk/presence", {"available": True})


def _password() -> str:
    return f"Bench-{secrets.token_urlsafe(12)}"
