"""`make demo`, step 4: an online consultation at the desk, through the gateway.

A team lead puts a consultant on the desk; an anonymous visitor opens a chat from the web with a first message;
the router offers it to the consultant, who accepts; the visitor follows the chat on the live stream (Server-Sent
Events) while the consultant answers; the consultant takes the structured history, reads the triage advice,
records the department, registers the visitor as a patient and links the chat ("rename the visitor"), and closes
it marked; the visitor rates it. A second visitor writes about chest pain and sweating: the emergency advice comes
back in the answer to that very message and the team lead's view shows the red flag.

Outside service hours the first visitor gets the automatic reply with the next opening time; the demo then adds a
one-off shift around now (and puts the shift table back at the end), so the rest can be shown at any hour.

On a system in use (other clients' chats queued ahead, other consultants on the desk) the router may not offer the
demo's chat to the demo's consultant within a few seconds: then the demo's team lead hands it to them (a transfer
naming them, as team leads assign), and they accept. Other clients' chats the router offers the demo's consultant are
handed back at once (to the team lead on duty, or the queue), never closed: the demo closes only its own chats.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from deploy.demo import Actor, Journey, StepFailed, compact, detail, heading, new_staff, note
from wenzhen.timez import hospital_zone

ROUTER_WAIT = 5.0  # seconds the router has to offer the demo's chat to the demo's consultant before the lead assigns
HAND_BACK_NOTE = "演示咨询师（make demo）未接待，已退回。"  # staff-only handover note on other clients' chats


@dataclass
class ChatOutcome:
    consultation_id: str
    patient_id: str
    latency_ms: float
    urgent_id: str
    offered_by: str = "router"  # or "team lead": who offered the chat to the demo's consultant


class LiveStream:
    """The visitor's side of the stream: message events, with the time each arrived."""

    def __init__(self, base: str, token: str, consultation_id: str):
        request = urllib.request.Request(f"{base}/v1/consultations/{consultation_id}/stream",
                                         headers={"Authorization": f"Bearer {token}"})
        self.response = urllib.request.urlopen(request, timeout=70)
        self.arrived: dict[str, float] = {}
        self.texts: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event = None
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "message":
                    message = json.loads(line[5:])
                    self.arrived[message["id"]] = time.monotonic()
                    self.texts.append(f"seq {message['seq']} {message['author']:<10} {message.get('text') or ''}")
        except (OSError, ValueError, AttributeError):  # closed by us (http.client drops its socket: None)
            pass

    def wait_for(self, message_id: str, timeout: float = 5.0) -> float:
        deadline = time.monotonic() + timeout
        while message_id not in self.arrived:
            if time.monotonic() > deadline:
                raise StepFailed(f"message {message_id} did not arrive on the live stream within {timeout:.0f}s")
            time.sleep(0.01)
        return self.arrived[message_id]

    def close(self) -> None:
        self.response.close()


def around_now(hours_before: int = 1, hours_after: int = 2) -> dict:
    now = datetime.now(hospital_zone())
    start = (now - timedelta(hours=hours_before)).strftime("%H:00")
    end = (now + timedelta(hours=hours_after)).strftime("%H:00")
    return {"code": "demo-extra", "name_zh": "演示加班", "name_en": "Demo extra shift", "start": start, "end": end}


def chat_journey(journey: Journey, admin: Actor) -> ChatOutcome:
    heading("4", "An online consultation: the desk, a live chat, a red flag")
    lead = new_staff(journey, admin, "team lead", {
        "username": f"lead.{journey.run}", "name": "刘强", "role": "team_lead", "department": "outpatient"})
    consultant = new_staff(journey, admin, "consultant", {
        "username": f"desk.{journey.run}", "name": "赵婷", "role": "consultant", "department": "urology"})
    shifts = journey.step(lead, "GET", "/v1/desk/shifts",
                          show=lambda b: [f"{s['code']:<8} {s['name_zh']} {s['start']}–{s['end']}" for s in b])
    visitor = Actor("visitor")
    opened = journey.step(visitor, "POST", "/v1/consultations",
                          {"channel": "web", "message": "医生你好，我最近尿频尿急，小腹有点隐痛，想问问挂什么科"},
                          expect=201, show=lambda b: [
                              f"{b['consultation']['id']}: {b['consultation']['status']}, department "
                              f"{b['consultation']['department']} ({b['consultation']['department_source']}), "
                              f"visitor token for role {b['visitor_token']['role']}",
                              *(f"seq {m['seq']} {m['author']:<8} {m['kind']:<10} {m['text']}" for m in b["messages"])])
    cid = opened["consultation"]["id"]
    visitor.session = _visitor_session(journey, opened["visitor_token"])
    mine = {cid}  # the chats this run opened: the only ones it may close
    restore = None
    if not opened["consultation"]["in_service_hours"]:
        note("outside service hours: the automatic reply above names the next opening; the chat stays queued. "
             "For the demo the team lead adds a one-off shift around now (put back at the end).")
        restore = [{k: s[k] for k in ("code", "name_zh", "name_en", "start", "end", "weekdays", "team_lead_id")}
                   for s in shifts]
        shifts = journey.step(lead, "PUT", "/v1/desk/shifts", {"shifts": [*restore, around_now()]},
                              show=lambda b: f"shifts now: {', '.join(s['code'] for s in b)}")
    try:
        journey.step(lead, "PUT", f"/v1/desk/roster/{consultant.account_id}",
                     {"skills": ["urology"], "max_chats": 4, "shifts": [s["code"] for s in shifts]},
                     show=lambda b: f"skills {b['skills']}, up to {b['max_chats']} chats, shifts {b['shifts']}")
        journey.step(consultant, "PUT", "/v1/desk/presence", {"available": True},
                     show=lambda b: f"available, on duty: {b['on_duty']}")
        return _the_chat(journey, lead, consultant, visitor, cid, mine)
    finally:
        if restore is not None:
            journey.step(lead, "PUT", "/v1/desk/shifts", {"shifts": restore},
                         show=lambda b: f"shift table put back: {', '.join(s['code'] for s in b)}")
        journey.step(consultant, "PUT", "/v1/desk/presence", {"available": False},
                     show=lambda b: "the consultant goes off the desk")
        _close_leftovers(journey, lead, consultant, mine)


def _close_leftovers(journey: Journey, lead: Actor, consultant: Actor, mine: set[str]) -> None:
    """Leave the desk as the demo found it: its own chats still open (a run that stopped half-way) are closed by the
    team lead; other clients' chats still offered to or held by the demo's consultant are handed back, not closed."""
    _hand_back(journey, consultant, journey.as_(consultant).get("/v1/consultations"), mine)
    closed = []
    for cid in sorted(mine):
        chat = journey.as_(lead).get(f"/v1/consultations/{cid}")
        if chat["status"] != "closed" and journey.as_(lead).send(
                "POST", f"/v1/consultations/{cid}/close", {"outcome": "dropped"}).status == 200:
            closed.append(cid)
    if closed:
        note(f"the team lead closed the demo's own chat(s) left open: {', '.join(closed)}")


def _hand_back(journey: Journey, consultant: Actor, chats: list[dict], mine: set[str]) -> int:
    """Other clients' chats the router offered the demo's consultant go back at once (a transfer without a colleague:
    to the team lead on duty, or to the queue), with a note for staff; the demo never accepts or closes them."""
    theirs = [c for c in chats if c["id"] not in mine and c["status"] in ("assigned", "active")
              and c.get("consultant_id") == consultant.account_id]
    for chat in theirs:
        api = journey.as_(consultant)
        path = f"/v1/consultations/{chat['id']}/transfer"
        resp = api.send("POST", path, {"reason": "colleague", "note": HAND_BACK_NOTE})
        print(f"   {consultant.label:<10} POST   {path}  →  {resp.status}   [{api.request_id}]")
        if resp.status == 200:
            to = f" to {resp.body['consultant_id']}" if resp.body.get("consultant_id") else ""
            detail(f"another client's chat, offered by the router, handed back untouched: {resp.body['status']}{to}")
        else:  # e.g. its offer ran out meanwhile (back in the queue already)
            detail(f"another client's chat was no longer the consultant's to hand back ({resp.status})")
    return len(theirs)


def _offered(journey: Journey, lead: Actor, consultant: Actor, cid: str, mine: set[str], what: str) -> str:
    """Wait until the demo's chat ``cid`` is offered to the demo's consultant: by the router within ``ROUTER_WAIT``,
    else by the team lead, who hands it to them (a transfer naming them; they accept it next). Returns who offered it.

    On a used system the router rightly offers older chats first (and other consultants on the desk may be offered
    this one): the demo does not wait for the queue to drain, and it hands back whatever else it is offered."""
    deadline = time.monotonic() + ROUTER_WAIT
    latest = deadline + 2 * ROUTER_WAIT  # however many other chats the router keeps offering meanwhile
    while True:
        held = journey.as_(consultant).get("/v1/consultations")
        if any(c["id"] == cid and c["status"] == "assigned" for c in held):
            _hand_back(journey, consultant, held, mine)
            note(f"the router offered {what} to the consultant on duty")
            return "router"
        if _hand_back(journey, consultant, held, mine):
            deadline = min(latest, max(deadline, time.monotonic() + 1.0))  # its next round may now offer ours
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    queue = journey.as_(lead).get("/v1/desk/queue")
    ahead = next((n for n, q in enumerate(queue) if q["id"] == cid), None)
    chat = journey.as_(lead).get(f"/v1/consultations/{cid}")
    if chat["status"] == "assigned" and chat.get("consultant_id") == consultant.account_id:
        note(f"the router offered {what} to the consultant on duty")  # in its round just now
        return "router"
    where = (f"{ahead} chat(s) ahead of it in the queue" if ahead else
             f"it is {chat['status']}" + (f" with {chat['consultant_id']}" if chat.get("consultant_id") else ""))
    note(f"the router did not offer {what} to the demo's consultant within {ROUTER_WAIT:.0f}s ({where}); "
         "the team lead assigns it to them")
    api = journey.as_(lead)
    resp = api.send("POST", f"/v1/consultations/{cid}/transfer",
                    {"to": consultant.account_id, "reason": "colleague", "note": "演示：组长指派"})
    print(f"   {lead.label:<10} POST   /v1/consultations/{cid}/transfer  →  {resp.status}   [{api.request_id}]")
    held = journey.as_(consultant).get("/v1/consultations")
    if not any(c["id"] == cid and c["status"] == "assigned" for c in held):  # (a 422 "already theirs" is fine)
        problem = resp.body.get("detail") if isinstance(resp.body, dict) else resp.body
        raise StepFailed(f"the team lead could not hand {what} to the consultant ({resp.status}: {problem}); "
                         "see var/log/intake.log")
    detail(f"offered to {consultant.account_id} by the team lead (transfer naming them)")
    return "team lead"


def _visitor_session(journey: Journey, tokens: dict):
    from deploy.client import Session

    return Session(journey.api, tokens)


def _the_chat(journey: Journey, lead: Actor, consultant: Actor, visitor: Actor, cid: str,
              mine: set[str]) -> ChatOutcome:
    offered_by = _offered(journey, lead, consultant, cid, mine, "the chat (skill urology, least loaded)")
    journey.step(consultant, "POST", f"/v1/consultations/{cid}/accept",
                 show=lambda b: f"{b['status']}, accepted at {b['accepted_at']}")

    stream = LiveStream(journey.api.base, visitor.session.tokens["access_token"], cid)
    answer = journey.step(consultant, "POST", f"/v1/consultations/{cid}/messages",
                          {"text": "您好，请问这种情况多久了？以前有过吗？"}, expect=201,
                          show=lambda b: f"seq {b['items'][0]['seq']}: {b['items'][0]['text']}")
    sent = time.monotonic()
    latency = (stream.wait_for(answer["items"][0]["id"]) - sent) * 1000
    note(f"the visitor's live stream (SSE) received it {latency:.0f} ms after the answer to the post")
    journey.step(visitor, "POST", f"/v1/consultations/{cid}/messages",
                 {"text": "三天了，以前在你们医院看过，说是慢性前列腺炎", "client_id": f"demo-{journey.run}-1"},
                 expect=201, show=lambda b: f"seq {b['items'][0]['seq']}: {b['items'][0]['text']}")
    journey.step(consultant, "PATCH", f"/v1/consultations/{cid}/history", {
        "subject": {"relationship": "self", "sex": "male", "age": 36, "occupation": "出租车司机"},
        "present_illness": {"chief_complaint": "尿频尿急伴小腹隐痛", "site": "小腹", "character": "dull",
                            "duration": "3天", "severity": "moderate"},
        "past_history": {"happened_before": True, "cured": False, "treated_where": "本院泌尿外科",
                         "prior_diagnosis": "慢性前列腺炎"},
        "allergies": {"none_known": True}, "medications": {"none": True},
        "follow_up": {"prior_in_person_diagnosis": True, "diagnosis": "慢性前列腺炎",
                      "record_reference": "MZ2026-104233"}},
                 show=lambda b: f"completion {b['completion']}; follow-up eligible: {b['follow_up_eligible']}")
    advice = journey.step(consultant, "GET", f"/v1/consultations/{cid}/triage", show=lambda b: [
        f"rules v{b['rules_version']}: " + "; ".join(f"{d['department_zh']} ({d['score']})" for d in b["departments"]),
        *(d["reason"] for d in b["departments"][:1])])
    first = advice["departments"][0]["department"] if advice["departments"] else "urology"
    journey.step(consultant, "POST", f"/v1/consultations/{cid}/department", {"department": first},
                 show=lambda b: f"department recorded: {b['current_department']} (advice followed)")

    patient = journey.step(consultant, "POST", "/v1/patients",
                           {"name": "孙浩", "sex": "male", "birth_date": "1990-07-12",
                            "phone": f"137{int(time.time() * 1000) % 100_000_000:08d}"},
                           expect=201, show=lambda b: f"registered {b['id']} for the visitor")
    journey.step(consultant, "POST", f"/v1/consultations/{cid}/patient", {"patient_id": patient["id"]},
                 show=lambda b: f"the chat now belongs to {b['patient_id']} (visitor renamed)")
    journey.step(consultant, "POST", f"/v1/consultations/{cid}/messages",
                 {"text": "建议您近期来泌尿外科复诊，平时注意不要饮酒、少吃辛辣，避免久坐久开车。祝您早日康复！"},
                 expect=201, show=lambda b: f"seq {b['items'][0]['seq']}: {b['items'][0]['text']}")
    journey.step(consultant, "POST", f"/v1/consultations/{cid}/close",
                 {"outcome": "information_only", "disease_category": "前列腺炎", "tags": ["复诊"]},
                 show=lambda b: f"{b['status']}: {b['outcome']}, {b['disease_category']} {b['tags']}")
    journey.step(visitor, "POST", f"/v1/consultations/{cid}/rating", {"rating": 5},
                 show=lambda b: f"rated {b['rating']}/5")
    time.sleep(0.3)
    stream.close()
    detail("what the visitor's stream showed:", *stream.texts)

    note("another visitor writes about chest pain with sweating")
    started = time.monotonic()
    urgent = journey.step(Actor("visitor 2"), "POST", "/v1/consultations",
                          {"message": "我父亲突然胸口剧痛，满头大汗，喘不上气"}, expect=201,
                          show=lambda b: [f"urgent {b['consultation']['urgent']}, red flags "
                                          f"{b['consultation']['red_flags']}",
                                          *(f"seq {m['seq']} {m['kind']:<9} {m['text']}" for m in b["messages"])])
    mine.add(urgent["consultation"]["id"])
    note(f"the emergency advice came back in the answer to the first message, {1000 * (time.monotonic() - started):.0f}"
         " ms after it was sent, before any routing")
    view = journey.step(lead, "GET", "/v1/desk", show=lambda b: [
        f"in service: {b['in_service_hours']}, shifts on duty {b['on_duty_shifts']}",
        f"queue: {compact([(q['id'][-6:], q['urgent'], q['status']) for q in b['queue']])}",
        f"red flags: {compact(b['red_flags'])}",
        f"breaches today: {b['breaches_today']}, open incidents: {len(b['open_incidents'])}"])
    urgent_id = urgent["consultation"]["id"]
    if urgent_id not in [r["consultation_id"] for r in view["red_flags"]]:
        raise StepFailed("the team lead's view does not show the red flag")
    _offered(journey, lead, consultant, urgent_id, mine,
             "the urgent chat (urgent chats go first, to anyone on duty with room)")
    journey.step(consultant, "POST", f"/v1/consultations/{urgent_id}/accept",
                 show=lambda b: f"{b['status']}: the consultant is on the urgent chat")
    journey.step(consultant, "POST", f"/v1/consultations/{urgent_id}/messages",
                 {"text": "请马上拨打120！在等待救护车时让患者保持安静、不要走动。我们会一直在线。"}, expect=201,
                 show=lambda b: f"seq {b['items'][0]['seq']}: {b['items'][0]['text']}")
    journey.step(consultant, "POST", f"/v1/consultations/{urgent_id}/close",
                 {"outcome": "referred_in_person", "disease_category": "胸痛（急症）", "tags": ["红旗"]},
                 show=lambda b: f"{b['status']}: {b['outcome']}")
    return ChatOutcome(cid, patient["id"], latency, urgent_id, offered_by)
