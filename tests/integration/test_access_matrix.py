"""The access matrix: every protected route × every role (and no token) × the caller's own / someone else's resource.

The expectations below are written from the rules (issue 3, docs/security.md), not read from the gateway's
declarations, so a wrong declaration or a missing ownership check in a service shows up as a failure. Every
allowed combination must work (its 2xx), every forbidden one must be denied (403 or 404; 401 without a token).
A route added to the API without a row here fails the test too.

"own" means: a patient's own record (or a relative's they are linked to), a record a consultant or team lead
registered (their care relationship), a staff member's own account. Doctors and pharmacists have no care
relationship yet (consultations, appointments and encounters arrive with later issues), so their "own patient"
column is not applicable today; their "other" column is tested.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from contracts.intake.documents import resident_id_check_char
from deploy.client import Api, Session
from tests.integration.conftest import PatientUser, new_phone, wait_until
from wenzhen.ids import to_fhir

pytestmark = pytest.mark.integration

ROLES = ("patient", "consultant", "doctor", "pharmacist", "team_lead", "lab", "finance", "manager", "admin",
         "visitor", "anonymous")
STAFF = ("consultant", "doctor", "pharmacist", "team_lead", "lab", "finance", "manager", "admin")
EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
NONE: frozenset[str] = frozenset()

_sequence = itertools.count(11)


def resident_id(birth_date: str, sex: str) -> str:
    """A valid resident ID number for that birth date and sex (a new one each time)."""
    seq = next(_sequence) * 2 + (1 if sex == "male" else 0)
    first17 = f"110101{birth_date.replace('-', '')}{seq % 1000:03d}"
    return first17 + resident_id_check_char(first17)


@dataclass
class World:
    stack: object
    sessions: dict[str, Session]
    a: PatientUser  # the patient role's account: own record and a linked relative
    b: PatientUser  # another patient
    relative: str
    by_consultant: str  # records registered by the consultant / team lead (their care relationship)
    by_team_lead: str
    spare: Session  # a staff account for the admin to act on
    visitor: Api  # an anonymous visitor of the chat, with the visitor token they were given
    chats: dict[str, str]  # the consultation each chat role is on ("other": one on the spare consultant's desk)
    files: dict[str, str]  # consultation id -> a file shared in it
    complaints: dict[str, str]  # "a" / "b": a complaint each patient filed
    encounters: dict[str, str]  # "a": the matrix doctor's encounter with a's relative; "b": another doctor's with b
    prescriptions: dict[str, str]  # "a" / "b": a prescription signed in each, waiting for review
    orders: dict[str, str]  # "a" / "b": an order in each encounter, waiting for its results
    results: dict[str, str]  # "a" / "b": a result (of another order) the laboratory recorded, released
    appointments: dict[str, str]  # "a" / "b": the visit each encounter records
    documents: dict[str, str]  # "a" / "b": an image kept with each encounter
    invoices: dict[str, str]  # "a" / "b": the invoice of a dispensing order of each (a's: of the relative's record)
    dispensing: dict[str, str]  # "a" / "b": that dispensing order (awaiting payment, pickup chosen)
    paid_rx: dict[str, str]  # "a" / "b": its prescription (approved: pharmacy keeps its trace)

    def api(self, role: str) -> Api:
        if role == "anonymous":
            return self.stack.api()
        if role == "visitor":
            return self.visitor
        return self.sessions[role].as_user

    def patient(self, role: str, own: bool) -> str | None:
        if own:
            return {"patient": self.a.id, "consultant": self.by_consultant, "team_lead": self.by_team_lead}.get(role)
        return self.b.id if role == "patient" else self.a.id

    def staff_account(self, role: str, own: bool) -> str | None:
        if own:
            return self.sessions[role].account_id if role in STAFF else None
        return self.spare.account_id


@pytest.fixture(scope="module")
def world(stack) -> World:
    # fresh accounts for every role, a second admin included: the matrix ends by logging every one of them out
    sessions = {role: stack.staff(role) for role in STAFF}
    a, b = stack.patient(), stack.patient()
    relative = a.api.post("/v1/patients", {"name": "孩子", "sex": "male", "birth_date": "2018-05-06",
                                           "phone": a.session.extra["phone"], "relationship": "child"})["id"]
    a.session.refresh()
    sessions["patient"] = a.session
    on_behalf = {"name": "代登记", "sex": "female", "birth_date": "1990-03-04"}
    by_consultant = sessions["consultant"].as_user.post("/v1/patients", {**on_behalf, "phone": new_phone()})["id"]
    by_team_lead = sessions["team_lead"].as_user.post("/v1/patients", {**on_behalf, "phone": new_phone()})["id"]
    spare = stack.staff("consultant")
    opened = stack.api().post("/v1/consultations", {"message": "矩阵访客的问题"})
    visitor = stack.api(opened["visitor_token"]["access_token"])
    phone_call = {"message": "电话咨询记录", "channel": "phone"}
    chats = {"visitor": opened["consultation"]["id"],
             "patient": a.api.post("/v1/consultations", {"message": "矩阵患者的问题", "patient_id": a.id})
             ["consultation"]["id"],
             "consultant": sessions["consultant"].as_user.post("/v1/consultations", phone_call)["consultation"]["id"],
             "team_lead": sessions["team_lead"].as_user.post("/v1/consultations", phone_call)["consultation"]["id"],
             "other": spare.as_user.post("/v1/consultations", phone_call)["consultation"]["id"]}
    owners = {"visitor": visitor, "patient": a.api, "consultant": sessions["consultant"].as_user,
              "team_lead": sessions["team_lead"].as_user, "other": spare.as_user}
    files = {chats[who]: api.post(f"/v1/consultations/{chats[who]}/attachments?name=x.png", PNG)["items"][0]
             ["attachment"]["id"] for who, api in owners.items()}
    complaint = {"about": "appointment", "reference": "apt_matrix", "text": "矩阵测试：预约时间到了没有医生接诊。"}
    complaints = {"a": a.api.post("/v1/complaints", {**complaint, "patient_id": a.id})["id"],
                  "b": b.api.post("/v1/complaints", {**complaint, "patient_id": b.id})["id"]}
    # records: the matrix doctor sees a's relative (so the doctor cares for the relative, never for a or b); another
    # doctor sees b
    encounters, prescriptions, orders, results, appointments, documents, paid_rx = {}, {}, {}, {}, {}, {}, {}
    for key, doctor, patient, record, born, sex in (("a", sessions["doctor"], a, relative, "2018-05-06", "male"),
                                                    ("b", stack.staff("doctor"), b, b.id, "1990-03-04", "female")):
        visit = stack.visit(doctor, patient, patient_id=record)
        d = doctor.as_user
        appointments[key] = visit["appointment"]["id"]
        encounters[key] = d.post("/v1/encounters", {"appointment_id": appointments[key]})["id"]
        d.call("PUT", f"/v1/encounters/{encounters[key]}/report", {
            "condition_analysis": "血压偏高。", "diagnoses": [{"code": "I10", "text": "原发性高血压"}]})
        d.post(f"/v1/encounters/{encounters[key]}/report/sign")
        documents[key] = d.post(f"/v1/encounters/{encounters[key]}/attachments?name=x.png", PNG)["id"]
        patient.api.call("PUT", f"/v1/patients/{record}/identity-document",
                         {"document_type": "resident_id", "number": resident_id(born, sex)})
        d.post(f"/v1/patients/{record}/identity-verification", {"method": "in_person"})
        prescriptions[key] = d.post(f"/v1/encounters/{encounters[key]}/prescriptions", RX)["id"]
        paid_rx[key] = d.post(f"/v1/encounters/{encounters[key]}/prescriptions", PAID_RX)["id"]
        orders[key] = d.post(f"/v1/encounters/{encounters[key]}/orders", {"tests": ["血常规"]})["id"]
        done = d.post(f"/v1/encounters/{encounters[key]}/orders", {"tests": ["尿常规"]})["id"]
        results[key] = sessions["lab"].as_user.post("/v1/results", {"order_id": done, "observations": [
            {"code": "5804-0", "name": "尿蛋白", "text": "阴性"}]})["id"]
        d.post(f"/v1/results/{results[key]}/release")
    # payments: an invoice comes from pharmacy's `fulfilment_chosen`: the second prescription of each encounter (the
    # first stays waiting for review), approved; its dispensing order; the patient side chooses pickup
    made = {key: invoice_of(sessions["pharmacist"], patient, record, paid_rx[key])
            for key, patient, record in (("a", a, relative), ("b", b, b.id))}
    invoices = {key: invoice for key, (_, invoice) in made.items()}
    dispensing = {key: order for key, (order, _) in made.items()}
    return World(stack, sessions, a, b, relative, by_consultant, by_team_lead, spare, visitor, chats, files,
                 complaints, encounters, prescriptions, orders, results, appointments, documents, invoices,
                 dispensing, paid_rx)


RX = {"items": [{"drug_code": "AML-5-TAB", "dose": "5 mg", "route": "oral", "frequency": "qd", "days": 7,
                 "quantity": 1}], "diagnoses": ["I10"]}
PAID_RX = {"items": [{"drug_code": "LOS-50-TAB", "dose": "50 mg", "route": "oral", "frequency": "qd", "days": 7,
                      "quantity": 1}], "diagnoses": ["I10"]}


def invoice_of(pharmacist: Session, patient: PatientUser, record: str, prescription: str) -> tuple[str, str]:
    """The dispensing order of ``prescription`` (of ``record``) and its invoice: approved by ``pharmacist``, its pickup
    chosen by ``patient`` (who acts for ``record``); the order and the invoice arrive by events."""
    pharmacist.as_user.post(f"/v1/prescriptions/{prescription}/review", {"outcome": "approve"})
    order = wait_until(lambda: next((o for o in patient.api.get(f"/v1/dispensing-orders?patient_id={record}")
                                     if o["prescription_id"] == prescription), None), what="the dispensing order")
    patient.api.call("PUT", f"/v1/dispensing-orders/{order['id']}/fulfilment", {"method": "pickup",
                                                                                "location": "central"})
    return order["id"], wait_until(lambda: next((i["id"] for i in patient.api.get(f"/v1/invoices?patient_id={record}")
                                                 if i["reference"] == order["id"]), None), what="the order's invoice")


Request = tuple[str, str, dict | None]


@dataclass
class Route:
    """One protected operation: who may call it on their own / someone else's resource, and how to call it."""

    method: str
    path: str
    own: frozenset[str]  # roles for which the call on their own resource must work
    other: frozenset[str]  # ... on someone else's resource
    build: Callable[[World, str, bool], Request | None]  # None: not applicable for this role and ownership
    ok: int = 200
    phase: int = 0  # destructive calls (log-out, unlink, …) run last
    resourceless: bool = False  # no one else's resource to try

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def on_patient(method: str, suffix: str = "", body: dict | None = None):
    def build(w: World, role: str, own: bool) -> Request | None:
        target = w.patient(role, own)
        return None if target is None else (method, f"/v1/patients/{target}{suffix}", body)
    return build


def on_staff(method: str, suffix: str = "", body: dict | None = None):
    def build(w: World, role: str, own: bool) -> Request | None:
        target = w.staff_account(role, own)
        return None if target is None else (method, f"/v1/staff/{target}{suffix}", body)
    return build


def fixed(method: str, path: str, body: dict | None = None):
    return lambda w, role, own: (method, path, body)


def identity_document(w: World, role: str, own: bool) -> Request | None:
    target = w.patient(role, own)
    if target is None:
        return None
    return "PUT", f"/v1/patients/{target}/identity-document", {"document_type": "resident_id",
                                                                "number": resident_id("1990-03-04", "female")}


def identity_verification(w: World, role: str, own: bool) -> Request | None:
    target = w.patient(role, own)
    if target is None:
        return None
    if own and role in ("consultant", "team_lead"):  # a document to verify (recording one resets verification)
        method, path, body = identity_document(w, role, own)
        w.api(role).call(method, path, body)
    return "POST", f"/v1/patients/{target}/identity-verification", {"method": "in_person"}


def new_patient(w: World, role: str, own: bool) -> Request:
    body = {"name": "新患者", "sex": "female", "birth_date": "2001-02-03", "phone": new_phone()}
    if role == "patient":
        body["relationship"] = "parent"
    return "POST", "/v1/patients", body


def new_staff(w: World, role: str, own: bool) -> Request:
    return "POST", "/v1/staff", {"username": f"matrix.{next(_sequence)}", "name": "矩阵", "role": "consultant",
                                 "department": "urology"}


def unlink(w: World, role: str, own: bool) -> Request | None:
    if own:
        return ("DELETE", f"/v1/me/patients/{w.relative}", None) if role == "patient" else None
    return "DELETE", f"/v1/me/patients/{w.b.id if role == 'patient' else w.a.id}", None


CARE_OWN = frozenset({"patient", "consultant", "team_lead"})
ADMIN = frozenset({"admin"})
CHAT = frozenset({"patient", "visitor", "consultant", "team_lead"})
DESK = frozenset({"consultant", "team_lead"})
LEAD = frozenset({"team_lead"})
KNOWLEDGE_READERS = frozenset({"consultant", "team_lead", "manager"})
MANAGER = frozenset({"manager"})
BOOKERS = frozenset({"patient", "consultant", "team_lead"})
APPOINTMENT_READERS = frozenset({"patient", "consultant", "doctor", "team_lead"})
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def on_chat(method: str, suffix: str = "", body=None, *, allowed: tuple[frozenset, frozenset] | None = None):
    """A request on the caller's own consultation, or on one on another consultant's desk. With ``allowed``, only
    the refusals are tried here: the allowed calls change the chat's state (accept, close, …) or never end (the
    live stream) and are tested in test_consultations."""
    def build(w: World, role: str, own: bool) -> Request | None:
        cid = w.chats.get(role) if own else w.chats["other"]
        if cid is None:
            return None
        if allowed and role in (allowed[0] if own else allowed[1]):
            return None
        return method, f"/v1/consultations/{cid}{suffix.format(file=w.files.get(cid))}", body
    return build


def refused_only(method: str, path: str, body=None, allowed: frozenset = frozenset()):
    """Only the refusals of a route whose allowed calls are tested elsewhere (state changes, streams)."""
    return lambda w, role, own: None if role in allowed else (method, path, body)


def fresh_article(method: str, suffix: str = "", body_for=None):
    def build(w: World, role: str, own: bool) -> Request:
        article = w.sessions["manager"].as_user.post("/v1/knowledge", {
            "kind": "reply_template", "title": f"矩阵模板 {next(_sequence)}", "body": "您好{surname}，祝您早日康复！"})
        return method, f"/v1/knowledge/{article['id']}{suffix}", body_for(article) if body_for else None
    return build


def fresh_complaint(w: World, role: str, own: bool) -> Request:
    """A complaint logged by phone for patient a's record (own) or b's (other), still open."""
    patient = w.a.id if own else w.b.id
    filed = w.sessions["consultant"].as_user.post("/v1/complaints", {
        "patient_id": patient, "about": "bill", "reference": "inv_matrix", "text": "矩阵测试：账单金额与告知不符。"})
    body = {"status": "closed"} if role == "patient" else {"status": "investigating"}
    return "POST", f"/v1/complaints/{filed['id']}/status", body


def complaint_for(w: World, role: str, own: bool) -> Request:
    body = {"about": "consultation", "reference": w.chats["patient"], "text": "矩阵测试：咨询回复太慢了，等了很久。"}
    if role == "patient":
        return "POST", "/v1/complaints", {**body, "patient_id": w.a.id if own else w.b.id}
    return "POST", "/v1/complaints", {**body, "patient_id": w.by_consultant if own else w.a.id}


def same_shifts(w: World, role: str, own: bool) -> Request:
    shifts = w.sessions["team_lead"].as_user.get("/v1/desk/shifts")
    return "PUT", "/v1/desk/shifts", {"shifts": shifts}


def roster(w: World, role: str, own: bool) -> Request:
    codes = [s["code"] for s in w.sessions["team_lead"].as_user.get("/v1/desk/shifts")]
    return "PUT", f"/v1/desk/roster/{w.sessions['consultant'].account_id}", {"skills": [], "max_chats": 3,
                                                                             "shifts": codes[:1]}


DOCTOR = frozenset({"doctor"})
READERS = frozenset({"patient", "doctor"})
RX_READERS = frozenset({"patient", "doctor", "pharmacist"})
CODE_READERS = frozenset({"doctor", "pharmacist", "consultant", "team_lead", "manager"})
LAB_READERS = frozenset({"patient", "doctor", "lab"})


def fhir_routes() -> list:
    """Reads and searches of the FHIR interface on a's relative's record (own: the patient a, the matrix doctor
    caring for the relative) or on b's (other)."""
    def record(w: World, own: bool) -> str:
        return to_fhir(w.relative if own else w.b.id)

    def search(kind: str, extra: str = ""):
        return lambda w, role, own: ("GET", f"/fhir/{kind}?patient={record(w, own)}{extra}", None)

    def read(kind: str, key: str, suffix: str = ""):
        return lambda w, role, own: ("GET", f"/fhir/{kind}/{to_fhir(getattr(w, key)['a' if own else 'b'])}{suffix}",
                                     None)

    clinical = READERS
    return [
        Route("GET", "/fhir/Patient/{patient_id}", frozenset({"patient", "doctor"}), NONE,
              lambda w, role, own: ("GET", f"/fhir/Patient/{record(w, own)}", None)),
        Route("GET", "/fhir/Patient/{patient_id}/$everything", clinical, NONE,
              lambda w, role, own: ("GET", f"/fhir/Patient/{record(w, own)}/$everything", None)),
        Route("GET", "/fhir/Encounter", clinical, NONE, search("Encounter", "&_revinclude=Condition:encounter")),
        Route("GET", "/fhir/Encounter/{encounter_id}", clinical, NONE, read("Encounter", "encounters")),
        Route("GET", "/fhir/Condition", clinical, NONE, search("Condition")),
        Route("GET", "/fhir/Condition/{condition_id}", clinical, NONE, lambda w, role, own: (
            "GET", f"/fhir/Condition/{to_fhir(w.encounters['a' if own else 'b'])}-dx1", None)),
        # a pharmacist's search answers what they reviewed (of anyone: maybe nothing), never another's
        Route("GET", "/fhir/MedicationRequest", RX_READERS, frozenset({"pharmacist"}), search("MedicationRequest")),
        Route("GET", "/fhir/MedicationRequest/{request_id}", RX_READERS, frozenset({"pharmacist"}),
              lambda w, role, own: ("GET", f"/fhir/MedicationRequest/{to_fhir(w.prescriptions['a' if own else 'b'])}"
                                           "-1", None)),
        # booking's listing rule: a doctor and a consultant get their own (maybe none), a team lead all
        Route("GET", "/fhir/Appointment", frozenset({"patient", "doctor", "consultant", "team_lead"}),
              frozenset({"doctor", "consultant", "team_lead"}), search("Appointment")),
        Route("GET", "/fhir/Appointment/{appointment_id}", frozenset({"patient", "doctor", "team_lead"}),
              frozenset({"team_lead"}), read("Appointment", "appointments")),
        Route("GET", "/fhir/DiagnosticReport", clinical, NONE, search("DiagnosticReport")),
        Route("GET", "/fhir/DiagnosticReport/{report_id}", clinical, NONE, read("DiagnosticReport", "results")),
        Route("GET", "/fhir/Observation", clinical, NONE, search("Observation")),
        Route("GET", "/fhir/Observation/{observation_id}", NONE, NONE, lambda w, role, own: (
            "GET", f"/fhir/Observation/obs-01M93QFBEAY7PNK4TNKA2BYH79?patient={record(w, own)}", None)),
        Route("GET", "/fhir/AuditEvent", frozenset({"patient", "admin"}), NONE, lambda w, role, own: (
            "GET", f"/fhir/AuditEvent?patient={record(w, own)}&_count=5" if role != "admin"
            else "/fhir/AuditEvent?_count=5", None), resourceless=True),
        Route("POST", "/fhir", frozenset({"lab", "doctor"}), NONE, refused_only(
            "POST", "/fhir", {"resourceType": "Bundle", "type": "transaction"}, frozenset({"lab", "doctor"})),
              resourceless=True),
    ]


def on_encounter(method: str, suffix: str = "", body=None, *, allowed: frozenset = frozenset()):
    """The matrix doctor's encounter with patient a (own), or another doctor's with patient b (other); with
    ``allowed``, only the refusals (the allowed calls change its state: test_records)."""
    def build(w: World, role: str, own: bool) -> Request | None:
        if own and role in allowed:
            return None
        return method, f"/v1/encounters/{w.encounters['a' if own else 'b']}{suffix}", body
    return build


PHARMACIST = frozenset({"pharmacist"})
ORDER_READERS = frozenset({"patient", "pharmacist"})


def on_dispensing(method: str, suffix: str = "", body=None, *, allowed: frozenset = frozenset()):
    """Patient a's dispensing order (own: of a's relative's prescription) or b's (other); with ``allowed``, only the
    refusals (the allowed calls move the order on: test_pharmacy)."""
    def build(w: World, role: str, own: bool) -> Request | None:
        if role in allowed:
            return None
        return method, f"/v1/dispensing-orders/{w.dispensing['a' if own else 'b']}{suffix}", body
    return build


INVOICE_READERS = frozenset({"patient", "finance"})
FINANCE = frozenset({"finance"})


def on_invoice(method: str, suffix: str = "", body=None, *, allowed: frozenset = frozenset()):
    """Patient a's invoice (own: of a dispensing order of a's relative) or patient b's (other); with ``allowed``, only
    the refusals (a payment changes the invoice's state, once: test_payments)."""
    def build(w: World, role: str, own: bool) -> Request | None:
        if role in allowed:
            return None
        return method, f"/v1/invoices/{w.invoices['a' if own else 'b']}{suffix}", body
    return build


def same_rules(w: World, role: str, own: bool) -> Request:
    current = w.sessions["manager"].as_user.get("/v1/rule-tables/red_flags")
    return "PUT", "/v1/rule-tables/red_flags", {"rules": current["rules"], "note": "access matrix: unchanged"}

MATRIX = [
    Route("GET", "/v1/me", SIGNED_IN, NONE, fixed("GET", "/v1/me"), resourceless=True),
    Route("GET", "/v1/me/patients", frozenset({"patient"}), NONE, fixed("GET", "/v1/me/patients"), resourceless=True),
    Route("POST", "/v1/patients", CARE_OWN, NONE, new_patient, ok=201, resourceless=True),
    Route("GET", "/v1/patients/{patient_id}", CARE_OWN, NONE, on_patient("GET")),
    Route("PATCH", "/v1/patients/{patient_id}", CARE_OWN, NONE, on_patient("PATCH", "", {"address": "某路1号"})),
    Route("PUT", "/v1/patients/{patient_id}/identity-document", CARE_OWN, NONE, identity_document),
    Route("POST", "/v1/patients/{patient_id}/identity-verification", frozenset({"consultant", "team_lead"}), NONE,
          identity_verification),
    Route("GET", "/v1/patients/{patient_id}/notifications", frozenset({"patient"}), NONE,
          on_patient("GET", "/notifications")),
    Route("GET", "/v1/patients/{patient_id}/access-log", frozenset({"patient"}), NONE,
          on_patient("GET", "/access-log")),
    Route("GET", "/v1/audit-events", ADMIN, NONE, fixed("GET", "/v1/audit-events?limit=5"), resourceless=True),
    Route("GET", "/v1/audit-events/fhir", ADMIN, NONE, fixed("GET", "/v1/audit-events/fhir?limit=5"),
          resourceless=True),
    Route("GET", "/v1/audit-chain", ADMIN, NONE, fixed("GET", "/v1/audit-chain"), resourceless=True),
    Route("GET", "/v1/reports/event-counts", frozenset({"manager"}), NONE, fixed("GET", "/v1/reports/event-counts"),
          resourceless=True),
    Route("POST", "/v1/staff", ADMIN, NONE, new_staff, ok=201, resourceless=True),
    Route("GET", "/v1/staff", ADMIN, NONE, fixed("GET", "/v1/staff"), resourceless=True),
    Route("GET", "/v1/staff/{account_id}", frozenset(STAFF), ADMIN, on_staff("GET")),
    Route("PATCH", "/v1/staff/{account_id}", ADMIN, ADMIN, on_staff("PATCH", "", {"title": "主治医师"})),
    # resetting one's own activation is refused by a rule (409), not by access: only "other" is tried
    Route("POST", "/v1/staff/{account_id}/activation", NONE, ADMIN,
          lambda w, role, own: None if own and role == "admin" else on_staff("POST", "/activation")(w, role, own),
          phase=1),
    Route("DELETE", "/v1/me/patients/{patient_id}", frozenset({"patient"}), NONE, unlink, ok=204, phase=1),
    Route("DELETE", "/v1/me/consents/{document}", frozenset({"patient"}), NONE,
          fixed("DELETE", "/v1/me/consents/privacy_notice"), ok=204, phase=1, resourceless=True),
    # consultations: the caller's own chat, or one on another consultant's desk (team leads supervise every chat)
    Route("GET", "/v1/consultations", CHAT, NONE, fixed("GET", "/v1/consultations"), resourceless=True),
    Route("GET", "/v1/consultations/{consultation_id}", CHAT, LEAD, on_chat("GET")),
    Route("GET", "/v1/consultations/{consultation_id}/messages", CHAT, LEAD, on_chat("GET", "/messages")),
    Route("POST", "/v1/consultations/{consultation_id}/messages", CHAT, LEAD,
          on_chat("POST", "/messages", {"text": "矩阵消息"}), ok=201),
    Route("GET", "/v1/consultations/{consultation_id}/stream", CHAT, LEAD,
          on_chat("GET", "/stream", allowed=(CHAT, LEAD))),
    Route("POST", "/v1/consultations/{consultation_id}/attachments", CHAT, LEAD,
          on_chat("POST", "/attachments?name=m.png", PNG), ok=201),
    Route("GET", "/v1/consultations/{consultation_id}/attachments/{attachment_id}", CHAT, LEAD,
          on_chat("GET", "/attachments/{file}")),
    Route("POST", "/v1/consultations/{consultation_id}/read", CHAT, LEAD, on_chat("POST", "/read", {"seq": 1})),
    Route("GET", "/v1/consultations/{consultation_id}/history", CHAT, LEAD, on_chat("GET", "/history")),
    Route("PATCH", "/v1/consultations/{consultation_id}/history", CHAT, LEAD,
          on_chat("PATCH", "/history", {"allergies": {"none_known": True}})),
    Route("GET", "/v1/consultations/{consultation_id}/triage", DESK, LEAD, on_chat("GET", "/triage")),
    Route("POST", "/v1/consultations/{consultation_id}/department", DESK, LEAD,
          on_chat("POST", "/department", {"department": "urology"})),
    Route("GET", "/v1/consultations/{consultation_id}/handover", DESK, LEAD, on_chat("GET", "/handover")),
    Route("POST", "/v1/consultations/{consultation_id}/example", DESK, LEAD,
          on_chat("POST", "/example", {"example": "satisfied", "title": "泌尿 — 复诊预约"})),
    Route("POST", "/v1/consultations/{consultation_id}/accept", DESK, LEAD,
          on_chat("POST", "/accept", allowed=(DESK, LEAD))),
    Route("POST", "/v1/consultations/{consultation_id}/pick", DESK, LEAD,
          on_chat("POST", "/pick", allowed=(DESK, LEAD))),
    Route("POST", "/v1/consultations/{consultation_id}/transfer", DESK, LEAD,
          on_chat("POST", "/transfer", {"reason": "team_lead"}, allowed=(DESK, LEAD))),
    Route("POST", "/v1/consultations/{consultation_id}/patient", DESK, LEAD,
          on_chat("POST", "/patient", {"patient_id": "pat_none"}, allowed=(DESK, LEAD))),
    Route("POST", "/v1/consultations/{consultation_id}/close", DESK, LEAD,
          on_chat("POST", "/close", {"outcome": "dropped"}, allowed=(DESK, LEAD))),
    Route("POST", "/v1/consultations/{consultation_id}/rating", frozenset({"patient", "visitor"}), NONE,
          on_chat("POST", "/rating", {"rating": 5}, allowed=(frozenset({"patient", "visitor"}), NONE))),
    Route("GET", "/v1/desk/queue", DESK, NONE, fixed("GET", "/v1/desk/queue"), resourceless=True),
    Route("GET", "/v1/desk", LEAD, NONE, fixed("GET", "/v1/desk"), resourceless=True),
    Route("GET", "/v1/desk/stream", DESK, NONE, refused_only("GET", "/v1/desk/stream", allowed=DESK),
          resourceless=True),
    Route("PUT", "/v1/desk/presence", DESK, NONE, fixed("PUT", "/v1/desk/presence", {"available": False}),
          resourceless=True),
    Route("PUT", "/v1/desk/roster/{consultant_id}", LEAD, NONE, roster, resourceless=True),
    Route("GET", "/v1/desk/shifts", KNOWLEDGE_READERS, NONE, fixed("GET", "/v1/desk/shifts"), resourceless=True),
    Route("PUT", "/v1/desk/shifts", frozenset({"team_lead", "manager"}), NONE, same_shifts, resourceless=True),
    Route("GET", "/v1/desk/examples", DESK, NONE, fixed("GET", "/v1/desk/examples"), resourceless=True),
    Route("GET", "/v1/rule-tables/{table}", KNOWLEDGE_READERS, NONE, fixed("GET", "/v1/rule-tables/triage"),
          resourceless=True),
    Route("PUT", "/v1/rule-tables/{table}", MANAGER, NONE, same_rules, ok=201, resourceless=True),
    # the knowledge base: managers keep it, the desk reads it (fees and doctor profiles are public)
    Route("GET", "/v1/knowledge", KNOWLEDGE_READERS, NONE, fixed("GET", "/v1/knowledge?limit=5"), resourceless=True),
    Route("POST", "/v1/knowledge", MANAGER, NONE, fixed("POST", "/v1/knowledge", {
        "kind": "care_tip", "title": "鼻炎护理", "condition": "鼻炎", "body": "坚持锻炼，用冷水洗脸。"}), ok=201,
          resourceless=True),
    Route("GET", "/v1/knowledge/{article_id}", KNOWLEDGE_READERS, NONE, fresh_article("GET"), resourceless=True),
    Route("PUT", "/v1/knowledge/{article_id}", MANAGER, NONE, fresh_article("PUT", "", lambda a: {
        "kind": "reply_template", "title": a["title"], "body": "祝您早日康复！", "revision": a["revision"]}),
          resourceless=True),
    Route("DELETE", "/v1/knowledge/{article_id}", MANAGER, NONE, fresh_article("DELETE"), ok=204, resourceless=True),
    Route("POST", "/v1/knowledge/{article_id}/render", KNOWLEDGE_READERS, NONE,
          fresh_article("POST", "/render", lambda a: {"values": {"surname": "王"}}), resourceless=True),
    # complaints: patients about their own records; the desk logs phone complaints; team leads and managers handle
    Route("POST", "/v1/complaints", frozenset({"patient", "consultant", "team_lead"}),
          frozenset({"consultant", "team_lead"}), complaint_for, ok=201),
    Route("GET", "/v1/complaints", frozenset({"patient", "team_lead", "manager"}), NONE,
          fixed("GET", "/v1/complaints"), resourceless=True),
    Route("GET", "/v1/complaints/{complaint_id}", frozenset({"patient", "team_lead", "manager"}),
          frozenset({"team_lead", "manager"}),
          lambda w, role, own: ("GET", f"/v1/complaints/{w.complaints['a' if own else 'b']}", None)),
    Route("POST", "/v1/complaints/{complaint_id}/status", frozenset({"patient", "team_lead", "manager"}),
          frozenset({"team_lead", "manager"}), fresh_complaint, phase=1),
    Route("POST", "/v1/consultations/{consultation_id}/appointments", DESK, LEAD,
          on_chat("POST", "/appointments", {"slot_id": "slt_none"}, allowed=(DESK, LEAD))),
    # booking: who may book, see and change appointments (the allowed calls, with a clinic's schedule, are tested
    # in test_booking; here the refusals), and the manager's catalogue
    Route("POST", "/v1/appointments", BOOKERS, frozenset({"consultant", "team_lead"}),
          refused_only("POST", "/v1/appointments", {"patient_id": "pat_none", "slot_id": "slt_none"}, BOOKERS)),
    Route("GET", "/v1/appointments", APPOINTMENT_READERS, NONE, lambda w, role, own: (
        "GET", f"/v1/appointments?doctor_id={w.sessions['doctor'].account_id}" if role == "doctor"
        else f"/v1/appointments?patient_id={w.a.id}", None), resourceless=True),
    *[Route(method, f"/v1/appointments/{{appointment_id}}{suffix}", roles, roles,
            refused_only(method, f"/v1/appointments/apt_none{suffix}", body, roles))
      for method, suffix, roles, body in (
          ("GET", "", APPOINTMENT_READERS, None),
          ("POST", "/cancel", APPOINTMENT_READERS, {"reason": "patient_request"}),
          ("POST", "/reschedule", BOOKERS, {"slot_id": "slt_none"}),
          ("POST", "/confirm", DESK, None),
          ("POST", "/check-in", APPOINTMENT_READERS, {}),
          ("POST", "/complete", frozenset({"doctor"}), None))],
    # the waitlist and follow-up plans (allowed calls need a full slot or a completed visit: test_booking)
    *[Route(method, path, roles, roles,
            refused_only(method, path.replace("{entry_id}", "wl_none").replace("{appointment_id}", "apt_none"),
                         body, roles))
      for method, path, roles, body in (
          ("POST", "/v1/appointments/waitlist", BOOKERS, {"patient_id": "pat_none", "slot_id": "slt_none"}),
          ("GET", "/v1/appointments/waitlist/{entry_id}", APPOINTMENT_READERS, None),
          ("DELETE", "/v1/appointments/waitlist/{entry_id}", BOOKERS, None),
          ("POST", "/v1/appointments/waitlist/{entry_id}/accept", BOOKERS, None),
          ("POST", "/v1/appointments/waitlist/{entry_id}/decline", BOOKERS, None),
          ("POST", "/v1/appointments/{appointment_id}/follow-up", frozenset({"doctor"}),
           {"after_days": 7, "service": "follow_up"}))],
    Route("GET", "/v1/appointments/waitlist", APPOINTMENT_READERS, NONE, lambda w, role, own: (
        "GET", f"/v1/appointments/waitlist?doctor_id={w.sessions['doctor'].account_id}" if role == "doctor"
        else f"/v1/appointments/waitlist?patient_id={w.a.id}", None), resourceless=True),
    Route("GET", "/v1/follow-ups", APPOINTMENT_READERS, NONE, refused_only(
        "GET", "/v1/follow-ups?patient_id=pat_none", None, APPOINTMENT_READERS), resourceless=True),
    Route("POST", "/v1/departments", MANAGER, NONE, lambda w, role, own: (
        "POST", "/v1/departments", {"code": f"matrix_{next(_sequence)}", "name_zh": "矩阵科", "name_en": "Matrix"}),
          ok=201, resourceless=True),
    Route("PATCH", "/v1/departments/{code}", MANAGER, NONE, refused_only(
        "PATCH", "/v1/departments/urology", {"name_zh": "泌尿外科"}, MANAGER), resourceless=True),
    Route("PATCH", "/v1/services/{code}", MANAGER, NONE, refused_only(
        "PATCH", "/v1/services/first_visit", {"slot_minutes": 15}, MANAGER), resourceless=True),
    Route("POST", "/v1/rooms", MANAGER, NONE, lambda w, role, own: (
        "POST", "/v1/rooms", {"code": f"room_{next(_sequence)}", "name": "矩阵诊室"}), ok=201, resourceless=True),
    Route("POST", "/v1/doctors", MANAGER, NONE, refused_only("POST", "/v1/doctors", {}, MANAGER), resourceless=True),
    Route("PATCH", "/v1/doctors/{doctor_id}", MANAGER, NONE,
          refused_only("PATCH", "/v1/doctors/acc_none", {"title": "主任医师"}, MANAGER), resourceless=True),
    Route("GET", "/v1/doctors/{doctor_id}/schedule", frozenset({"doctor", "manager"}), NONE,
          refused_only("GET", "/v1/doctors/acc_none/schedule", None, frozenset({"doctor", "manager"})),
          resourceless=True),
    Route("PUT", "/v1/doctors/{doctor_id}/schedule", MANAGER, NONE,
          refused_only("PUT", "/v1/doctors/acc_none/schedule", {"sessions": []}, MANAGER), resourceless=True),
    # records: the patient and the doctor of an encounter read it (another doctor only while caring for the patient);
    # pharmacists read what waits for review; the writes (open, draft, sign, amend, close, prescribe, review, extend)
    # change state and are tested in test_records: here their refusals
    Route("GET", "/v1/encounters", READERS, NONE, lambda w, role, own: (
        "GET", f"/v1/encounters?patient_id={w.relative}" if role == "patient" else "/v1/encounters", None),
          resourceless=True),
    Route("GET", "/v1/encounters/{encounter_id}", READERS, NONE, on_encounter("GET")),
    *[Route(method, f"/v1/encounters/{{encounter_id}}{suffix}", DOCTOR, NONE,
            on_encounter(method, suffix, body, allowed=DOCTOR)) for method, suffix, body in (
        ("PUT", "/report", {"treatment_plan": "观察。"}), ("POST", "/report/sign", None),
        ("POST", "/amendments", {"reason": "笔误", "content": {}}), ("POST", "/close", None),
        ("POST", "/prescriptions", RX), ("POST", "/orders", {"tests": ["血常规"]}),
        ("POST", "/attachments", PNG),
        ("POST", "/attachments/from-chat", {"consultation_id": "con_none", "attachment_id": "att_none"}))],
    Route("GET", "/v1/encounters/{encounter_id}/attachments/{attachment_id}", READERS, NONE, lambda w, role, own: (
        "GET", f"/v1/encounters/{w.encounters['a' if own else 'b']}/attachments/{w.documents['a' if own else 'b']}",
        None)),
    Route("POST", "/v1/encounters", DOCTOR, NONE, refused_only(
        "POST", "/v1/encounters", {"appointment_id": "apt_none"}, DOCTOR), resourceless=True),
    Route("GET", "/v1/prescriptions", RX_READERS, NONE, lambda w, role, own: (
        "GET", {"patient": f"/v1/prescriptions?patient_id={w.relative}",
                "pharmacist": "/v1/prescriptions?status=pending_review"}.get(role, "/v1/prescriptions"), None),
          resourceless=True),
    Route("GET", "/v1/prescriptions/{prescription_id}", RX_READERS, frozenset({"pharmacist"}),
          lambda w, role, own: ("GET", f"/v1/prescriptions/{w.prescriptions['a' if own else 'b']}", None)),
    Route("POST", "/v1/prescriptions/{prescription_id}/review", frozenset({"pharmacist"}), frozenset({"pharmacist"}),
          lambda w, role, own: None if role == "pharmacist" else (
              "POST", f"/v1/prescriptions/{w.prescriptions['a' if own else 'b']}/review", {"outcome": "approve"})),
    Route("POST", "/v1/prescriptions/{prescription_id}/extend", DOCTOR, NONE,
          lambda w, role, own: None if role == "doctor" and own else (
              "POST", f"/v1/prescriptions/{w.prescriptions['a' if own else 'b']}/extend",
              {"validity_days": 2, "reason": "取药"})),
    Route("GET", "/v1/orders", LAB_READERS, NONE, lambda w, role, own: (
        "GET", "/v1/orders" if role == "lab" else f"/v1/orders?patient_id={w.relative}", None), resourceless=True),
    Route("GET", "/v1/orders/{order_id}", LAB_READERS, frozenset({"lab"}),
          lambda w, role, own: ("GET", f"/v1/orders/{w.orders['a' if own else 'b']}", None)),
    Route("POST", "/v1/results", frozenset({"lab", "doctor"}), NONE, refused_only(
        "POST", "/v1/results", {"order_id": "ord_none", "observations": [{"code": "1-8", "name": "x", "text": "y"}]},
        frozenset({"lab", "doctor"})), resourceless=True),
    Route("GET", "/v1/results", READERS, NONE, lambda w, role, own: (
        "GET", f"/v1/results?patient_id={w.relative}", None), resourceless=True),
    Route("GET", "/v1/results/{result_id}", LAB_READERS, frozenset({"lab"}),
          lambda w, role, own: ("GET", f"/v1/results/{w.results['a' if own else 'b']}", None)),
    Route("POST", "/v1/results/{result_id}/release", DOCTOR, NONE,
          lambda w, role, own: None if role == "doctor" and own else (
              "POST", f"/v1/results/{w.results['a' if own else 'b']}/release", None)),
    Route("POST", "/v1/patients/{patient_id}/logs", frozenset({"patient"}), NONE, on_patient(
        "POST", "/logs", {"kind": "weight", "measured_at": "2026-12-01T07:30:00+08:00", "value": 60.5}), ok=201),
    Route("GET", "/v1/patients/{patient_id}/logs", frozenset({"patient"}), NONE, on_patient("GET", "/logs")),
    # payments: a patient reads the invoices of the records they act for; finance staff read any and take payments
    # at the desk (a payment, once, is tested with pharmacy's orders: here its refusals)
    Route("GET", "/v1/invoices", INVOICE_READERS, NONE, lambda w, role, own: (
        "GET", "/v1/invoices?status=open" if role == "finance" else f"/v1/invoices?patient_id={w.relative}", None),
          resourceless=True),
    Route("GET", "/v1/invoices/{invoice_id}", INVOICE_READERS, FINANCE, on_invoice("GET")),
    Route("POST", "/v1/invoices/{invoice_id}/desk-payments", FINANCE, FINANCE,
          on_invoice("POST", "/desk-payments", {"method": "cash", "amount_fen": 100}, allowed=FINANCE)),
    # pharmacy: a patient's orders for the records they act for; pharmacists any (the dispensing queue), and they record
    # the patient's choice; the steps that move an order on are tried for their refusals (test_pharmacy: the rest)
    Route("GET", "/v1/pharmacies", SIGNED_IN - {"visitor"}, NONE, fixed("GET", "/v1/pharmacies"), resourceless=True),
    Route("GET", "/v1/pharmacies/{location}/stock", frozenset({"pharmacist", "manager"}), NONE,
          fixed("GET", "/v1/pharmacies/central/stock"), resourceless=True),
    Route("POST", "/v1/pharmacies/{location}/lots", PHARMACIST, NONE, refused_only(
        "POST", "/v1/pharmacies/central/lots", {"drug_code": "AML-5-TAB", "lot_no": "M1", "expiry": "2030-01-01",
                                                "quantity": 1}, PHARMACIST), resourceless=True),
    Route("GET", "/v1/dispensing-orders", ORDER_READERS, NONE, lambda w, role, own: (
        "GET", "/v1/dispensing-orders?status=paid" if role == "pharmacist"
        else f"/v1/dispensing-orders?patient_id={w.relative}", None), resourceless=True),
    Route("GET", "/v1/dispensing-orders/{order_id}", ORDER_READERS, PHARMACIST, on_dispensing("GET")),
    Route("PUT", "/v1/dispensing-orders/{order_id}/fulfilment", ORDER_READERS, PHARMACIST,
          on_dispensing("PUT", "/fulfilment", {"method": "pickup", "location": "central"})),
    Route("POST", "/v1/dispensing-orders/{order_id}/cancel", ORDER_READERS, PHARMACIST,
          on_dispensing("POST", "/cancel", {"reason": "patient_request"}, allowed=ORDER_READERS)),
    Route("POST", "/v1/dispensing-orders/{order_id}/receipt", frozenset({"patient"}), NONE,
          on_dispensing("POST", "/receipt", allowed=frozenset({"patient"}))),
    Route("GET", "/v1/dispensing-orders/{order_id}/pickup-code.svg", frozenset({"patient"}), NONE,
          on_dispensing("GET", "/pickup-code.svg", allowed=frozenset({"patient"}))),
    Route("GET", "/v1/dispensing-orders/{order_id}/pick-list", PHARMACIST, PHARMACIST,
          on_dispensing("GET", "/pick-list")),
    *[Route(method, f"/v1/dispensing-orders/{{order_id}}{suffix}", PHARMACIST, PHARMACIST,
            on_dispensing(method, suffix, body, allowed=PHARMACIST))
      for method, suffix, body in (("POST", "/reserve", None), ("POST", "/start", None), ("POST", "/dispense", {}),
                                   ("POST", "/hand-over", {"pickup_code": "000000"}),
                                   ("POST", "/return", {"reason": "other"}), ("POST", "/shipment/retry", None),
                                   ("GET", "/label.pdf", None))],
    Route("GET", "/v1/prescriptions/{prescription_id}/trace", frozenset({"pharmacist", "manager"}),
          frozenset({"pharmacist", "manager"}),
          lambda w, role, own: ("GET", f"/v1/prescriptions/{w.paid_rx['a' if own else 'b']}/trace", None)),
    # the FHIR interface: the same services answer, so the same rules (a refusal: 403/404 as an OperationOutcome)
    *fhir_routes(),
    Route("GET", "/v1/patients/{patient_id}/retention", ADMIN, ADMIN, on_patient("GET", "/retention")),
    Route("POST", "/v1/patients/{patient_id}/legal-hold", ADMIN, NONE, refused_only(
        "POST", "/v1/patients/pat_none/legal-hold", {"reason": "矩阵"}, ADMIN), resourceless=True),
    Route("POST", "/v1/patients/{patient_id}/legal-hold/release", ADMIN, NONE, refused_only(
        "POST", "/v1/patients/pat_none/legal-hold/release", {"reason": "矩阵"}, ADMIN), resourceless=True),
    Route("GET", "/v1/codes/icd10", CODE_READERS, NONE, fixed("GET", "/v1/codes/icd10?q=I1"), resourceless=True),
    Route("PUT", "/v1/codes/icd10/{code}", MANAGER, NONE, lambda w, role, own: (
        "PUT", f"/v1/codes/icd10/Y{next(_sequence) % 100:02d}.{next(_sequence) % 10}",
        {"name": "矩阵诊断", "name_en": "Matrix"}), resourceless=True),
    Route("GET", "/v1/formulary", CODE_READERS, NONE, fixed("GET", "/v1/formulary?q=AML"), resourceless=True),
    Route("GET", "/v1/formulary/{code}", CODE_READERS, NONE, fixed("GET", "/v1/formulary/AML-5-TAB"),
          resourceless=True),
    Route("PUT", "/v1/formulary/{code}", frozenset({"pharmacist"}), NONE, refused_only(
        "PUT", "/v1/formulary/AML-5-TAB", {}, frozenset({"pharmacist"})), resourceless=True),
    Route("POST", "/v1/auth/logout", SIGNED_IN, NONE, fixed("POST", "/v1/auth/logout"), ok=204, phase=2,
          resourceless=True),
]

# reachable without a token: (method, path, body, the status the route itself answers)
PUBLIC = [
    ("GET", "/healthz", None, 200), ("GET", "/readyz", None, 200), ("GET", "/openapi.json", None, 200),
    ("GET", "/docs", None, 200), ("GET", "/metrics", None, 200), ("GET", "/v1/privacy-notice", None, 200),
    ("GET", "/.well-known/jwks.json", None, 200), ("GET", "/v1/fees", None, 200), ("GET", "/fhir/metadata", None, 200),
    ("GET", "/v1/doctor-profiles", None, 200),
    ("POST", "/v1/courier/route-pushes", {"partnerID": "NOT_OURS", "requestID": "r1", "timestamp": "1",
                                          "msgDigest": "forged", "msgData": "{}"}, 200),
    ("POST", "/v1/consultations", {"message": "你好，想咨询一下"}, 201),
    ("GET", "/v1/departments", None, 200), ("GET", "/v1/services", None, 200), ("GET", "/v1/rooms", None, 200),
    ("GET", "/v1/doctors", None, 200), ("GET", "/v1/doctors/{doctor_id}", None, 404),
    ("GET", "/v1/doctors/{doctor_id}/slots", None, 404), ("GET", "/v1/slots", None, 200),
    ("POST", "/v1/auth/otp", {"phone": "13811112222", "purpose": "register"}, 202),
    ("POST", "/v1/auth/signup", {"phone": "13811113333", "code": "000000", "password": "pale-orchid-19",
                                 "consent": {"privacy_notice": "2026-11-01", "sensitive_health_data": "2026-11-01"}},
     422),
    ("POST", "/v1/auth/login", {"login": "13811114444", "password": "pale-orchid-19"}, 401),
    ("POST", "/v1/auth/mfa", {"mfa_token": "mfa_nothing.secret", "code": "123456"}, 401),
    ("POST", "/v1/auth/refresh", {"refresh_token": "ses_nothing.secret"}, 401),
    ("POST", "/v1/auth/password-reset", {"phone": "13811115555", "code": "000000", "new_password": "pale-orchid-19"},
     422),
    ("POST", "/v1/auth/activate", {"username": "nobody.here", "activation_code": "not-a-code-123",
                                   "password": "pale-orchid-19"}, 401),
]


@dataclass
class Tally:
    tried: int = 0
    allowed: int = 0
    denied: int = 0
    failures: list[str] = field(default_factory=list)


def test_every_route_is_in_the_matrix(stack):
    doc = stack.http.get(stack.url + "/openapi.json").json()
    declared = {(m.upper(), p): op for p, ops in doc["paths"].items() for m, op in ops.items()}
    protected = {key for key, op in declared.items() if op["security"]}
    public = {key for key, op in declared.items() if not op["security"]}
    assert protected == {(r.method, r.path) for r in MATRIX}, "a protected route is missing from (or extra in) MATRIX"
    assert public == {(m, p) for m, p, _, _ in PUBLIC}, "a public route is missing from (or extra in) PUBLIC"


def test_the_access_matrix(world):
    tally = Tally()
    for phase in (0, 1, 2):
        for route in (r for r in MATRIX if r.phase == phase):
            for role in ROLES:
                for own in (True, False):
                    if not own and route.resourceless:
                        continue
                    request = route.build(world, role, own)
                    if request is None:
                        continue  # not applicable (e.g. a manager has no patients of their own)
                    allowed = role in (route.own if own else route.other)
                    method, path, body = request
                    resp = world.api(role).send(method, path, body)
                    tally.tried += 1
                    where = f"{route.key} as {role} on {'own' if own else 'other'}'s: {resp.status}"
                    if allowed:
                        tally.allowed += 1
                        if resp.status != route.ok:
                            tally.failures.append(f"should work, got {where} {resp.body}")
                    else:
                        tally.denied += 1
                        wanted = {401} if role == "anonymous" else {403, 404}
                        if resp.status not in wanted:
                            tally.failures.append(f"should be denied, got {where}")
    print(f"\naccess matrix: {tally.tried} combinations tried over {len(MATRIX)} protected routes × {len(ROLES)} "
          f"callers × own/other: {tally.allowed} allowed (all must work), {tally.denied} forbidden (all must be "
          f"denied); {len(tally.failures)} wrong")
    assert not tally.failures, "\n".join(tally.failures)
    assert tally.tried >= 200 and tally.allowed >= 30


def test_public_routes_need_no_token(stack):
    for method, path, body, status in PUBLIC:
        resp = stack.api().send(method, path.replace("{doctor_id}", "acc_none"), body)
        assert resp.status == status, f"{method} {path}: {resp.status} {resp.body}"
