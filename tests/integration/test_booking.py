"""Booking through the gateway against the real broker and database: the catalogue, availability, the booking
races (64 concurrent clients: no double booking, no overbooking), idempotent retries, half-day defaults, atomic
rescheduling, hold expiry by the sweeper, check-in and no-shows; the waitlist (a cancelled place offered to the first
in line, an SMS, a lapsed offer passed on by the sweeper, acceptance), appointment reminders and follow-up plans
with their SMS."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from deploy.client import Session
from tests.integration.conftest import wait_until
from wenzhen.timez import hospital_zone

pytestmark = pytest.mark.integration

RACERS = 64


@dataclass
class Clinic:
    stack: object
    manager: Session
    doctor: Session
    consultant: Session
    department: str
    d1: date  # tomorrow (hospital zone): half-days, idempotency, rescheduling, holds
    d2: date  # the day after: the races

    @property
    def doctor_id(self) -> str:
        return self.doctor.account_id

    def token(self, session: Session) -> str:
        return session.tokens["access_token"]

    def send(self, method: str, path: str, session: Session | None = None, body=None, key: str | None = None):
        headers = self.stack.headers(self.token(session)) if session else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        return requests.request(method, self.stack.url + path, json=body, headers=headers, timeout=30)

    def slots(self, day: date, service: str, limit: int = 200) -> list[dict]:
        resp = self.send("GET", f"/v1/doctors/{self.doctor_id}/slots?from={day}&to={day}&service={service}"
                                f"&limit={limit}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def slot_at(self, day: date, hhmm: str, service: str = "first_visit") -> str:
        return next(s["id"] for s in self.slots(day, service) if s["start"][11:16] == hhmm)

    def patients(self, n: int) -> list[str]:
        """n patient records registered by a consultant, once booking has heard of them."""
        ids = [self.stack.register()["id"] for _ in range(n)]
        known = self.stack.db("booking")["known_patients"]
        wait_until(lambda: known.count_documents({"_id": {"$in": ids}}) == n, timeout=60,
                   what="booking to hear of the registered patients")
        return ids

    def appointment(self, appointment_id: str) -> dict:
        return self.stack.db("booking")["appointments"].find_one({"_id": appointment_id})


def _template(weekdays: set[int], room: str) -> dict:
    sessions = []
    for weekday in sorted(weekdays):
        sessions += [
            {"weekday": weekday, "start": "08:00", "end": "12:00", "service": "first_visit", "room": room},
            {"weekday": weekday, "start": "14:00", "end": "17:00", "service": "first_visit", "room": room},
            {"weekday": weekday, "start": "17:00", "end": "19:00", "service": "follow_up", "capacity": 3,
             "room": room},
            {"weekday": weekday, "start": "19:00", "end": "21:00", "service": "online_video"},
        ]
    return {"sessions": sessions}


@pytest.fixture(scope="module")
def clinic(stack) -> Clinic:
    manager, doctor, consultant = stack.staff("manager"), stack.staff("doctor"), stack.staff("consultant")
    booking = stack.db("booking")
    wait_until(lambda: booking["staff_accounts"].find_one({"_id": doctor.account_id}), timeout=30,
               what="booking to hear of the doctor's account")
    today = datetime.now(hospital_zone()).date()
    c = Clinic(stack, manager, doctor, consultant, f"uro_{uuid.uuid4().hex[:8]}", today + timedelta(days=1),
               today + timedelta(days=2))
    assert c.send("POST", "/v1/departments", manager, {"code": c.department, "name_zh": "泌尿外科",
                                                        "name_en": "Urology"}).status_code == 201
    room = f"r_{uuid.uuid4().hex[:8]}"
    assert c.send("POST", "/v1/rooms", manager, {"code": room, "name": "门诊楼3层12诊室",
                                                  "department": c.department}).status_code == 201
    profile = {"doctor_id": doctor.account_id, "display_name": "李明", "department": c.department,
               "title": "主任医师", "expertise": ["前列腺炎"], "fee_level": "主任医师号", "fee_fen": 5000,
               "licence_number": "110440000012345", "profile": "从事泌尿外科临床工作二十年。",
               "services": ["first_visit", "follow_up", "online_video"]}
    created = c.send("POST", "/v1/doctors", manager, profile)
    assert created.status_code == 201, created.text
    schedule = c.send("PUT", f"/v1/doctors/{doctor.account_id}/schedule", manager,
                      _template({c.d1.isoweekday(), c.d2.isoweekday()}, room))
    assert schedule.status_code == 200, schedule.text
    assert schedule.json()["generation"]["created"] >= 2 * (16 + 12 + 12 + 8)
    return c


def test_the_catalogue_and_availability_are_public(clinic):
    departments = clinic.send("GET", "/v1/departments").json()
    assert {"code": clinic.department, "name_zh": "泌尿外科", "name_en": "Urology", "active": True} in departments
    (doctor,) = clinic.send("GET", f"/v1/doctors?department={clinic.department}").json()
    assert doctor["id"] == clinic.doctor_id and doctor["display_name"] == "李明" and doctor["fee_fen"] == 5000
    services = {s["code"]: s for s in clinic.send("GET", "/v1/services").json()}
    assert services["online_video"]["prepayment"] and not services["first_visit"]["prepayment"]
    slots = clinic.slots(clinic.d1, "first_visit")
    assert [s["start"][11:16] for s in slots[:2]] == ["08:00", "08:15"] and slots[0]["start"].endswith("+08:00")
    search = clinic.send("GET", f"/v1/slots?department={clinic.department}&service=follow_up&limit=1").json()
    assert search[0]["start"][11:16] == "17:00" and search[0]["capacity"] == 3
    bad = clinic.send("GET", f"/v1/doctors/{clinic.doctor_id}/slots?from={clinic.d2}&to={clinic.d1}")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "to"
    assert clinic.send("POST", "/v1/departments", clinic.doctor, {"code": "ent", "name_zh": "耳鼻喉科",
                                                                   "name_en": "ENT"}).status_code == 403


def _race(clinic: Clinic, slot_ids: list[str], patients: list[str]) -> list[requests.Response]:
    """Every client at once (a barrier), client i for slot i mod len(slot_ids)."""
    barrier = threading.Barrier(len(patients))
    answers: list[requests.Response | None] = [None] * len(patients)

    def client(i: int) -> None:
        body = {"patient_id": patients[i], "slot_id": slot_ids[i % len(slot_ids)]}
        barrier.wait()
        answers[i] = clinic.send("POST", "/v1/appointments", clinic.consultant, body)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(patients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(a is not None for a in answers)
    return answers


def test_64_clients_racing_for_10_single_places_make_exactly_10_bookings(clinic):
    slot_ids = [s["id"] for s in clinic.slots(clinic.d2, "first_visit")[:10]]
    patients = clinic.patients(RACERS)
    answers = _race(clinic, slot_ids, patients)
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 10, 409: RACERS - 10}, statuses
    won = [a.json() for a in answers if a.status_code == 201]
    assert sorted(a["slot_id"] for a in won) == sorted(slot_ids)  # one each: no overlap
    assert all(a.json()["errors"][0]["type"] == "full" for a in answers if a.status_code == 409)
    db = clinic.stack.db("booking")
    for sid in slot_ids:
        slot = db["slots"].find_one({"_id": sid})
        holders = db["appointments"].count_documents({"slot_id": sid, "holds_slot": True})
        assert (slot["booked"], slot["free"], holders) == (1, 0, 1)
    assert not {s["id"] for s in clinic.slots(clinic.d2, "first_visit")} & set(slot_ids)


def test_with_capacity_three_no_slot_takes_more_than_three(clinic):
    slot_ids = [s["id"] for s in clinic.slots(clinic.d2, "follow_up")[:10]]
    patients = clinic.patients(RACERS)
    answers = _race(clinic, slot_ids, patients)
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 30, 409: RACERS - 30}, statuses
    per_slot = Counter(a.json()["slot_id"] for a in answers if a.status_code == 201)
    assert set(per_slot.values()) == {3} and set(per_slot) == set(slot_ids)
    db = clinic.stack.db("booking")
    for sid in slot_ids:
        slot = db["slots"].find_one({"_id": sid})
        assert (slot["booked"], slot["free"], slot["capacity"]) == (3, 0, 3)
        assert db["appointments"].count_documents({"slot_id": sid, "holds_slot": True}) == 3


def test_a_retried_booking_returns_the_first_result(clinic):
    (patient,) = clinic.patients(1)
    body = {"patient_id": patient, "slot_id": clinic.slot_at(clinic.d1, "11:30")}
    key = f"retry-{uuid.uuid4().hex}"
    barrier = threading.Barrier(6)
    answers: list[requests.Response] = []

    def client() -> None:
        barrier.wait()
        answers.append(clinic.send("POST", "/v1/appointments", clinic.consultant, body, key=key))

    threads = [threading.Thread(target=client) for _ in range(6)]  # the same request, six times at once
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(not a.json()["replayed"] for a in answers) == 1
    assert clinic.stack.db("booking")["appointments"].count_documents({"patient_id": patient}) == 1
    later = clinic.send("POST", "/v1/appointments", clinic.consultant, body, key=key)
    assert later.status_code == 201 and later.json()["replayed"] and later.json()["id"] == answers[0].json()["id"]
    other = clinic.send("POST", "/v1/appointments", clinic.consultant,
                        {**body, "slot_id": clinic.slot_at(clinic.d1, "11:45")}, key=key)
    assert other.status_code == 409 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    bad = clinic.send("POST", "/v1/appointments", clinic.consultant, body, key="no spaces allowed")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "Idempotency-Key"


def test_half_days_default_to_ten_and_two_or_the_nearest_free_time(clinic):
    user = clinic.stack.patient()
    morning = {"patient_id": user.id, "date": clinic.d1.isoformat(), "half_day": "morning",
               "service": "first_visit", "doctor_id": clinic.doctor_id}
    first = user.api.post("/v1/appointments", morning)
    assert first["start"][11:16] == "10:00" and first["half_day"]["exact"] and first["status"] == "confirmed"
    assert first["checkin_code"] and first["booked_by_role"] == "patient"
    (other,) = clinic.patients(1)
    second = clinic.send("POST", "/v1/appointments", clinic.consultant, {**morning, "patient_id": other}).json()
    assert second["half_day"]["chosen_time"] == "09:45" and not second["half_day"]["exact"]
    afternoon = clinic.send("POST", "/v1/appointments", clinic.consultant,
                            {**morning, "patient_id": other, "half_day": "afternoon",
                             "doctor_id": None, "department": clinic.department}).json()
    assert afternoon["start"][11:16] == "14:00" and afternoon["half_day"]["default_time"] == "14:00"
    # the patient sees their own booking, others do not; every read is audited
    assert user.api.get(f"/v1/appointments/{first['id']}")["id"] == first["id"]
    assert clinic.send("GET", f"/v1/appointments/{first['id']}", clinic.doctor).status_code == 200
    assert clinic.send("GET", f"/v1/appointments/{first['id']}", clinic.consultant).status_code == 404
    entries = clinic.stack.db("booking")["audit_log"].find({"entity_id": first["id"], "action": "R"})
    assert {(e["agent_role"], e["outcome"]) for e in entries} == {("patient", "success"), ("doctor", "success"),
                                                                   ("consultant", "denied")}
    mine = user.api.get(f"/v1/appointments?patient_id={user.id}")
    assert [a["id"] for a in mine] == [first["id"]]


def test_a_reschedule_into_a_full_slot_leaves_the_booking_as_it_was(clinic):
    a, b = clinic.patients(2)
    old, full, free = (clinic.slot_at(clinic.d1, t) for t in ("15:00", "15:15", "15:30"))
    booked = clinic.send("POST", "/v1/appointments", clinic.consultant, {"patient_id": a, "slot_id": old}).json()
    assert clinic.send("POST", "/v1/appointments", clinic.consultant,
                       {"patient_id": b, "slot_id": full}).status_code == 201
    refused = clinic.send("POST", f"/v1/appointments/{booked['id']}/reschedule", clinic.consultant, {"slot_id": full})
    assert refused.status_code == 409
    still = clinic.send("GET", f"/v1/appointments/{booked['id']}", clinic.consultant).json()
    assert still["slot_id"] == old and still["start"] == booked["start"] and still["reschedules"] == 0
    db = clinic.stack.db("booking")
    assert db["slots"].find_one({"_id": old})["booked"] == 1 and db["slots"].find_one({"_id": full})["booked"] == 1
    moved = clinic.send("POST", f"/v1/appointments/{booked['id']}/reschedule", clinic.consultant, {"slot_id": free})
    assert moved.status_code == 200 and moved.json()["slot_id"] == free and moved.json()["reschedules"] == 1
    assert db["slots"].find_one({"_id": old})["free"] == 1 and db["slots"].find_one({"_id": free})["free"] == 0
    assert old in {s["id"] for s in clinic.slots(clinic.d1, "first_visit")}


def test_an_unpaid_hold_lapses_and_the_slot_returns(clinic):
    (patient,) = clinic.patients(1)
    sid = clinic.slot_at(clinic.d1, "19:00", "online_video")
    held = clinic.send("POST", "/v1/appointments", clinic.consultant, {"patient_id": patient, "slot_id": sid}).json()
    assert held["status"] == "held" and held["kind"] == "consultation_only" and held["hold_expires_at"]
    assert sid not in {s["id"] for s in clinic.slots(clinic.d1, "online_video")}
    db = clinic.stack.db("booking")
    # the hold is due (as if BOOKING_HOLD_MINUTES had passed); the sweeper, a timer in the service, ends it
    db["appointments"].update_one({"_id": held["id"]},
                                  {"$set": {"hold_expires_at": datetime.now(UTC) - timedelta(seconds=1)}})
    wait_until(lambda: clinic.appointment(held["id"])["status"] == "expired", timeout=30, what="the hold to lapse")
    assert sid in {s["id"] for s in clinic.slots(clinic.d1, "online_video")}
    late = clinic.send("POST", f"/v1/appointments/{held['id']}/confirm", clinic.consultant)
    assert late.status_code == 409
    wait_until(lambda: db["outbox"].find_one({"subject": held["id"], "type": "appointment_cancelled",
                                              "status": "sent"}), what="the cancellation to be published")


def test_arrival_by_qr_code_and_no_shows_by_the_sweeper(clinic):
    a, b = clinic.patients(2)
    came = clinic.send("POST", "/v1/appointments", clinic.consultant,
                       {"patient_id": a, "slot_id": clinic.slot_at(clinic.d1, "16:00")}).json()
    missed = clinic.send("POST", "/v1/appointments", clinic.consultant,
                         {"patient_id": b, "slot_id": clinic.slot_at(clinic.d1, "16:15")}).json()
    db = clinic.stack.db("booking")
    now = datetime.now(UTC)
    db["appointments"].update_one({"_id": came["id"]}, {"$set": {"start": now + timedelta(minutes=20)}})
    db["appointments"].update_one({"_id": missed["id"]}, {"$set": {"start": now - timedelta(minutes=31)}})
    code = clinic.appointment(came["id"])["checkin_code"]
    wrong = clinic.send("POST", f"/v1/appointments/{came['id']}/check-in", clinic.consultant, {"code": "x" * 24})
    assert wrong.status_code == 422
    arrived = clinic.send("POST", f"/v1/appointments/{came['id']}/check-in", clinic.consultant, {"code": code})
    assert arrived.status_code == 200 and arrived.json()["checkin_method"] == "qr"
    wait_until(lambda: clinic.appointment(missed["id"])["status"] == "no_show", timeout=30, what="the no-show")
    done = clinic.send("POST", f"/v1/appointments/{came['id']}/complete", clinic.doctor)
    assert done.status_code == 200 and done.json()["status"] == "completed"


def test_a_consultant_books_from_the_chat_and_the_confirmation_appears_in_it(clinic):
    stack, consultant = clinic.stack, clinic.consultant
    patient = consultant.as_user.post("/v1/patients", {"name": "吴刚", "sex": "male", "birth_date": "1985-02-03",
                                                       "phone": f"136{uuid.uuid4().int % 10**8:08d}"})
    wait_until(lambda: stack.db("booking")["known_patients"].find_one({"_id": patient["id"]}), timeout=30,
               what="booking to hear of the patient")
    chat = consultant.as_user.post("/v1/consultations", {"channel": "phone", "patient_id": patient["id"],
                                                         "message": "想预约明天下午泌尿外科的号"})
    cid = chat["consultation"]["id"]
    request = {"date": clinic.d1.isoformat(), "half_day": "afternoon", "service": "first_visit",
               "doctor_id": clinic.doctor_id, "client_id": "desk-booking-0001"}
    booked = clinic.send("POST", f"/v1/consultations/{cid}/appointments", consultant, request)
    assert booked.status_code == 201, booked.text
    appointment, message = booked.json()["appointment"], booked.json()["message"]
    at = appointment["start"][11:16]  # 14:00, or the nearest free time that afternoon (earlier tests took some)
    assert appointment["patient_id"] == patient["id"] and "14:00" <= at < "17:00"
    assert message["kind"] == "booking" and at in message["text"] and "泌尿外科" in message["text"]
    assert clinic.appointment(appointment["id"])["consultation_id"] == cid
    again = clinic.send("POST", f"/v1/consultations/{cid}/appointments", consultant, request).json()
    assert again["appointment"]["id"] == appointment["id"] and again["message"]["id"] == message["id"]
    texts = [m for m in consultant.as_user.get(f"/v1/consultations/{cid}/messages")["items"] if m["kind"] == "booking"]
    assert len(texts) == 1, "a retried booking posts one confirmation"
    # a visitor's chat (no patient yet) cannot book: link the visitor first
    visitor_chat = stack.api().post("/v1/consultations", {"message": "想挂号"})["consultation"]["id"]
    lead = stack.staff("team_lead")
    lead.as_user.post(f"/v1/consultations/{visitor_chat}/pick")
    refused = clinic.send("POST", f"/v1/consultations/{visitor_chat}/appointments", lead,
                          {**request, "client_id": "desk-booking-0002"})
    assert refused.status_code == 409 and "patient" in refused.json()["detail"]
    lead.as_user.post(f"/v1/consultations/{visitor_chat}/close", {"outcome": "dropped"})
    consultant.as_user.post(f"/v1/consultations/{cid}/close", {"outcome": "booked", "disease_category": "前列腺炎"})


# the waitlist, reminders and follow-ups (the sweeper runs every BOOKING_SWEEP_SECONDS; SMS land in the sink) ----------
def _sms(stack, phone: str, words: str, timeout: float = 45) -> str:
    def found():
        return next((m["text"] for m in stack.inbox.messages(phone) if words in m["text"]), None)
    return wait_until(found, timeout=timeout, what=f"an SMS with {words!r}")


def test_a_cancelled_place_is_offered_to_the_waitlist_and_a_lapsed_offer_passes_on(clinic):
    stack, consultant = clinic.stack, clinic.consultant
    first = stack.patient()  # signed up with their own record: their number is confirmed
    second_phone = f"138{uuid.uuid4().int % 10**8:08d}"
    second = stack.register(phone=second_phone)["id"]
    (holder,) = clinic.patients(1)
    wait_until(lambda: stack.db("booking")["known_patients"].find_one({"_id": second}), timeout=30,
               what="booking to hear of the second patient")
    sid = clinic.slot_at(clinic.d1, "08:30")
    booked = clinic.send("POST", "/v1/appointments", consultant, {"patient_id": holder, "slot_id": sid}).json()
    early = clinic.send("POST", "/v1/appointments/waitlist", first.session, {"patient_id": first.id, "slot_id": sid})
    assert early.status_code == 201, early.text
    assert early.json()["status"] == "waiting" and early.json()["position"] == 1
    late = clinic.send("POST", "/v1/appointments/waitlist", consultant, {"patient_id": second, "slot_id": sid})
    assert late.status_code == 201 and late.json()["position"] == 2
    free = clinic.send("POST", "/v1/appointments/waitlist", first.session,
                       {"patient_id": first.id, "slot_id": clinic.slot_at(clinic.d1, "08:45")})
    assert free.status_code == 409 and free.json()["errors"][0]["type"] == "available"

    assert clinic.send("POST", f"/v1/appointments/{booked['id']}/cancel", consultant, {}).status_code == 200
    offered = clinic.send("GET", f"/v1/appointments/waitlist/{early.json()['id']}", first.session).json()
    assert offered["status"] == "offered" and offered["offer"]["slot_id"] == sid
    assert sid not in {s["id"] for s in clinic.slots(clinic.d1, "first_visit")}  # held for them, not free
    db = stack.db("booking")
    assert db["slots"].find_one({"_id": sid})["booked"] == 1
    text = _sms(stack, first.session.extra["phone"], "您候补的号源有空位")
    assert "泌尿外科" in text and offered["offer"]["expires_at"][11:16] in text

    # the first patient lets it lapse (as if BOOKING_OFFER_MINUTES had passed): the sweeper offers it to the next
    db["appointments"].update_one({"_id": offered["offer"]["appointment_id"]},
                                  {"$set": {"offer_expires_at": datetime.now(UTC) - timedelta(seconds=1)}})
    wait_until(lambda: db["waitlist"].find_one({"_id": late.json()["id"]})["status"] == "offered", timeout=30,
               what="the offer to pass to the second in line")
    assert db["waitlist"].find_one({"_id": early.json()["id"]})["status"] == "lapsed"
    _sms(stack, second_phone, "您候补的号源有空位")
    refused = clinic.send("POST", f"/v1/appointments/waitlist/{early.json()['id']}/accept", first.session)
    assert refused.status_code == 409
    accepted = clinic.send("POST", f"/v1/appointments/waitlist/{late.json()['id']}/accept", consultant)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "confirmed" and accepted.json()["patient_id"] == second
    slot = db["slots"].find_one({"_id": sid})
    assert (slot["booked"], slot["free"], db["appointments"].count_documents({"slot_id": sid, "holds_slot": True})) \
        == (1, 0, 1)
    wait_until(lambda: db["outbox"].find_one({"subject": accepted.json()["id"], "type": "appointment_booked",
                                              "status": "sent"}), what="the booking to be published")


def test_a_confirmed_appointment_is_reminded_by_sms_and_a_cancelled_one_is_not(clinic):
    stack = clinic.stack
    user = clinic.stack.patient()
    kept = user.api.post("/v1/appointments", {"patient_id": user.id, "slot_id": clinic.slot_at(clinic.d1, "09:00")})
    dropped = user.api.post("/v1/appointments", {"patient_id": user.id,
                                                 "slot_id": clinic.slot_at(clinic.d1, "09:15")})
    user.api.post(f"/v1/appointments/{dropped['id']}/cancel", {})
    db = stack.db("booking")
    # as if it were booked yesterday for a time 1 h 50 min from now: the 2-hour reminder is due
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=110)
    for appointment_id in (kept["id"], dropped["id"]):
        db["appointments"].update_one({"_id": appointment_id},
                                      {"$set": {"start": soon, "confirmed_at": soon - timedelta(days=2)}})
    event = wait_until(lambda: db["outbox"].find_one({"subject": kept["id"], "type": "appointment_reminder_due"}),
                       timeout=30, what="the reminder")
    assert event["envelope"]["data"]["hours_before"] == 2
    text = _sms(stack, user.session.extra["phone"], "就诊提醒")
    local = soon.astimezone(hospital_zone())
    assert f"{local.month}月{local.day}日 {local:%H:%M}" in text and "泌尿外科" in text and "门诊楼3层12诊室" in text
    reminded = clinic.appointment(kept["id"])["reminded"]
    assert reminded["h2"]["sent"] is True and reminded["h24"]["sent"] is False  # only the nearest
    assert db["outbox"].find_one({"subject": dropped["id"], "type": "appointment_reminder_due"}) is None
    assert sum("就诊提醒" in m["text"] for m in stack.inbox.messages(user.session.extra["phone"])) == 1


def test_the_doctor_plans_a_follow_up_and_the_patient_is_reminded(clinic):
    stack = clinic.stack
    user = clinic.stack.patient()
    visit = user.api.post("/v1/appointments", {"patient_id": user.id, "slot_id": clinic.slot_at(clinic.d1, "09:30")})
    db = stack.db("booking")
    db["appointments"].update_one({"_id": visit["id"]},
                                  {"$set": {"start": datetime.now(UTC) + timedelta(minutes=20)}})
    code = clinic.appointment(visit["id"])["checkin_code"]
    assert clinic.send("POST", f"/v1/appointments/{visit['id']}/check-in", clinic.consultant,
                       {"code": code}).status_code == 200
    assert clinic.send("POST", f"/v1/appointments/{visit['id']}/complete", clinic.doctor).status_code == 200
    request = {"after_days": 1, "service": "follow_up", "note": "复查尿常规"}
    refused = clinic.send("POST", f"/v1/appointments/{visit['id']}/follow-up", clinic.consultant, request)
    assert refused.status_code == 403
    planned = clinic.send("POST", f"/v1/appointments/{visit['id']}/follow-up", clinic.doctor, request)
    assert planned.status_code == 201, planned.text
    plan = planned.json()
    today = datetime.now(hospital_zone()).date()
    assert plan["due_date"] == (today + timedelta(days=1)).isoformat() and plan["status"] == "planned"
    assert plan["proposed"] and plan["proposed"][0]["start"].startswith(f"{clinic.d1}T17:00")
    (mine,) = user.api.get(f"/v1/follow-ups?patient_id={user.id}")
    assert mine["id"] == plan["id"] and mine["note"] == "复查尿常规"
    # due tomorrow: the reminder (three days before by default) is due at once
    text = _sms(stack, user.session.extra["phone"], "复诊提醒")
    assert "泌尿外科" in text and "复查" not in text  # the note stays out of the SMS
    booked = user.api.post("/v1/appointments", {"patient_id": user.id, "slot_id": plan["proposed"][0]["id"],
                                                "follow_up_of": visit["id"]})
    assert booked["follow_up_of"] == visit["id"]
    (after,) = user.api.get(f"/v1/follow-ups?patient_id={user.id}")
    assert after["status"] == "booked" and after["booked_appointment_id"] == booked["id"]


def test_the_follow_up_a_signed_report_advises_becomes_the_visits_plan_when_it_completes(clinic):
    stack, doctor = clinic.stack, clinic.doctor.as_user
    user = stack.patient()
    # a time no other booking test takes
    free = [s["id"] for s in clinic.slots(clinic.d1, "first_visit") if s["start"][11:16] >= "10:30"]
    visit = user.api.post("/v1/appointments", {"patient_id": user.id, "slot_id": free[-1]})
    stack.db("booking")["appointments"].update_one({"_id": visit["id"]},
                                                   {"$set": {"start": datetime.now(UTC) + timedelta(minutes=20)}})
    code = clinic.appointment(visit["id"])["checkin_code"]
    assert clinic.send("POST", f"/v1/appointments/{visit['id']}/check-in", clinic.consultant,
                       {"code": code}).status_code == 200
    wait_until(lambda: stack.db("records")["appointments"].find_one({"_id": visit["id"], "kind": "visit"}),
               timeout=30, what="records to hear of the booking")
    eid = doctor.post("/v1/encounters", {"appointment_id": visit["id"]})["id"]
    doctor.call("PUT", f"/v1/encounters/{eid}/report", {
        "condition_analysis": "尿频两周。", "diagnoses": [{"code": "N41.1", "text": "慢性前列腺炎"}],
        "follow_up_in_days": 14})
    doctor.post(f"/v1/encounters/{eid}/report/sign")
    wait_until(lambda: stack.db("booking")["follow_up_advice"].find_one({"_id": visit["id"]}), timeout=30,
               what="booking to hear the report's advice")
    assert user.api.get(f"/v1/follow-ups?patient_id={user.id}") == []  # the visit is not complete yet
    assert clinic.send("POST", f"/v1/appointments/{visit['id']}/complete", clinic.doctor).status_code == 200
    (plan,) = wait_until(lambda: user.api.get(f"/v1/follow-ups?patient_id={user.id}"), timeout=30,
                         what="the plan made from the advice")
    today = datetime.now(hospital_zone()).date()
    assert plan["appointment_id"] == visit["id"] and plan["due_date"] == (today + timedelta(days=14)).isoformat()


def test_the_doctor_of_an_appointment_may_read_the_patients_record_until_it_is_cancelled(clinic):
    stack, consultant = clinic.stack, clinic.consultant
    patient = consultant.as_user.post("/v1/patients", {"name": "郑洁", "sex": "female", "birth_date": "1979-09-09",
                                                       "phone": f"135{uuid.uuid4().int % 10**8:08d}"})
    record = f"/v1/patients/{patient['id']}"
    assert clinic.doctor.as_user.send("GET", record).status == 404, "no care relationship yet"
    wait_until(lambda: stack.db("booking")["known_patients"].find_one({"_id": patient["id"]}), timeout=30,
               what="booking to hear of the patient")
    slot = clinic.slots(clinic.d2, "follow_up")[-1]["id"]
    booked = clinic.send("POST", "/v1/appointments", consultant, {"patient_id": patient["id"], "slot_id": slot})
    assert booked.status_code == 201, booked.text
    wait_until(lambda: clinic.doctor.as_user.send("GET", record).status == 200, timeout=20,
               what="intake to give the appointment's doctor a care relationship")
    other_doctor = stack.staff("doctor")
    assert other_doctor.as_user.send("GET", record).status == 404, "only the appointment's doctor"
    cancel = clinic.send("POST", f"/v1/appointments/{booked.json()['id']}/cancel", consultant,
                         {"reason": "patient_request"})
    assert cancel.status_code == 200, cancel.text
    wait_until(lambda: clinic.doctor.as_user.send("GET", record).status == 404, timeout=20,
               what="the cancellation to end the care relationship")


# refusals read the same whoever asks (issue 10) ---------------------------------------------------------------------
def test_booking_from_a_chat_is_refused_as_booking_refuses_it(clinic):
    """intake books through booking's RPC: booking's declared refusals reach the consultant as booking's own answers
    (they were 500s when intake let the remote error through untranslated)."""
    stack, consultant = clinic.stack, clinic.consultant
    patient = consultant.as_user.post("/v1/patients", {"name": "钱多", "sex": "male", "birth_date": "1979-06-01",
                                                       "phone": f"135{uuid.uuid4().int % 10**8:08d}"})
    (other,) = clinic.patients(1)
    wait_until(lambda: stack.db("booking")["known_patients"].find_one({"_id": patient["id"]}), timeout=30,
               what="booking to hear of the patient")
    cid = consultant.as_user.post("/v1/consultations", {"channel": "phone", "patient_id": patient["id"],
                                                        "message": "想改约一个号"})["consultation"]["id"]
    full = clinic.slot_at(clinic.d2, "11:45")
    assert clinic.send("POST", "/v1/appointments", consultant, {"patient_id": other, "slot_id": full}).status_code \
        == 201
    mine = clinic.slot_at(clinic.d2, "11:30")
    cases = [({"slot_id": "slot_doesnotexist"}, 404),
             ({"slot_id": full}, 409),  # fully booked
             ({"slot_id": mine}, 201),
             ({"slot_id": mine}, 409),  # the patient holds a place in it already (another client id)
             ({"slot_id": clinic.slot_at(clinic.d2, "11:15"), "service": "follow_up"}, 422)]  # not the slot's
    for n, (choice, status) in enumerate(cases):
        answer = clinic.send("POST", f"/v1/consultations/{cid}/appointments", consultant,
                             {**choice, "client_id": f"refusal-case-{n:04d}"})
        direct = clinic.send("POST", "/v1/appointments", consultant, {**choice, "patient_id": patient["id"]})
        assert answer.status_code == status, (choice, answer.text)
        assert answer.headers["Content-Type"].startswith("application/problem+json" if status >= 400 else
                                                         "application/json")
        if status >= 400:
            assert direct.status_code == status and answer.json()["errors"] == direct.json()["errors"], choice
    consultant.as_user.post(f"/v1/consultations/{cid}/close", {"outcome": "booked"})


def test_an_unlinked_relative_s_record_is_out_of_reach_of_an_older_token_at_once(clinic):
    """The access token lists the records an account acts for; after an unlink the token issued before still lists
    it, and booking (which believes the token) must not act for that record any more — at once, not after expiry."""
    stack = clinic.stack
    parent = stack.patient()
    child = parent.api.post("/v1/patients", {"name": "小明", "sex": "male", "birth_date": "2015-05-05",
                                             "phone": parent.session.extra["phone"], "relationship": "child"})
    parent.session.refresh()
    wait_until(lambda: stack.db("booking")["known_patients"].find_one({"_id": child["id"]}), timeout=30,
               what="booking to hear of the child's record")
    old = parent.session
    booked = clinic.send("POST", "/v1/appointments", old, {"patient_id": child["id"],
                                                           "slot_id": clinic.slot_at(clinic.d2, "11:00")})
    assert booked.status_code == 201, booked.text
    assert clinic.send("DELETE", f"/v1/me/patients/{child['id']}", old).status_code == 204
    # the same token, issued before the unlink: no booking, no listing, no reading for the child any more
    again = clinic.send("POST", "/v1/appointments", old, {"patient_id": child["id"],
                                                          "slot_id": clinic.slot_at(clinic.d2, "10:45")})
    assert again.status_code == 404, again.text
    assert clinic.send("GET", f"/v1/appointments?patient_id={child['id']}", old).status_code == 404
    assert clinic.send("GET", f"/v1/appointments/{booked.json()['id']}", old).status_code == 404
    # ... while their own record is theirs as before
    assert clinic.send("GET", f"/v1/appointments?patient_id={parent.id}", old).status_code == 200


def test_confirm_and_check_in_answer_only_what_the_caller_may_read(clinic):
    """A consultant who gets 404 reading a booking got the whole booking back from confirming it; a state change
    checks access exactly as the read does, and what it answers is audited."""
    stack = clinic.stack
    (patient,) = clinic.patients(1)
    booked = clinic.send("POST", "/v1/appointments", clinic.consultant,
                         {"patient_id": patient, "slot_id": clinic.slot_at(clinic.d2, "10:30")}).json()
    assert booked["status"] == "confirmed"
    stranger = stack.staff("consultant")
    assert clinic.send("GET", f"/v1/appointments/{booked['id']}", stranger).status_code == 404
    assert clinic.send("POST", f"/v1/appointments/{booked['id']}/confirm", stranger).status_code == 404
    assert clinic.send("POST", f"/v1/appointments/{booked['id']}/check-in", stranger, {}).status_code == 404
    assert clinic.send("POST", f"/v1/appointments/{booked['id']}/check-in", stranger,
                       {"code": "x" * 24}).status_code == 404  # no oracle for the code either
    again = clinic.send("POST", f"/v1/appointments/{booked['id']}/confirm", clinic.consultant)  # the booker may
    assert again.status_code == 200 and again.json()["id"] == booked["id"]
    audit = stack.db("booking")["audit_log"]
    wait_until(lambda: audit.find_one({"entity_id": booked["id"], "subtype": "confirm", "agent_id":
                                       clinic.consultant.account_id, "outcome": "success"}),
               what="the repeated confirm's answer audited")
    assert audit.find_one({"entity_id": booked["id"], "subtype": "confirm", "agent_id": stranger.account_id,
                           "outcome": "denied"})
