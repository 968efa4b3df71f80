"""The online consultation desk: chats, their live stream, the structured history, triage, and the desk itself."""
from __future__ import annotations

import base64
from typing import Annotated, Literal
from urllib.parse import quote, unquote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from contracts.booking.schemas import Appointment, AppointmentRequest
from contracts.intake.consultations import (
    FILE_TYPES,
    MAX_FILE_BYTES,
    Close,
    Consultation,
    ConsultationOpen,
    DepartmentChoice,
    DeskView,
    ExampleMark,
    Message,
    MessageInput,
    Messages,
    Opened,
    PatientLink,
    Presence,
    QueueItem,
    Rating,
    ReadReceipt,
    RosterEntry,
    RosterView,
    Shift,
    ShiftTable,
    Transfer,
    TriageAdvice,
)
from contracts.intake.history import History, HistoryPatch
from gateway import streams
from gateway.api import Call, Reply, Stream, read_body_bytes
from gateway.app_api import api
from gateway.auth import PUBLIC, verifier
from wenzhen.auth import Role
from wenzhen.fields import printable

TAGS = ["consultations"]
DESK_TAGS = ["desk"]
CHAT = {Role.patient, Role.visitor, Role.consultant, Role.team_lead}
PATIENT_SIDE = {Role.patient, Role.visitor}
STAFF = {Role.consultant, Role.team_lead}
NOT_YOURS = {404: "No such consultation, or not one the caller may see (the two are not told apart)."}
CHANGED = {409: "The consultation's state does not allow it (closed, not offered to you, taken meanwhile)."}


class MineQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_closed: bool = False


SEQ_MAX = 2**31 - 1  # a chat's messages are numbered 1, 2, 3…: far beyond any chat, and within what a database stores


class MessagesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: int = Field(default=0, ge=0, le=SEQ_MAX, description="Messages after this seq.")
    limit: int = Field(default=100, ge=1, le=500)
    wait: int = Field(default=0, ge=0, le=25, description="Long-poll: when nothing is newer than `after`, wait up to "
                                                          "this many seconds for a message.")


class StreamQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: int = Field(default=0, ge=0, le=SEQ_MAX, description="Resume after this seq (or send `Last-Event-ID`).")


class AttachmentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=120), AfterValidator(printable)] | None = Field(  # no bidi override
        default=None, description="The file's name, e.g. report.pdf.")  # (U+202E) hiding the kind of a file


class ChatBooking(AppointmentRequest):
    """A booking request from the chat: the patient is the chat's (linked) patient."""

    patient_id: str | None = Field(default=None, description="Leave out: the chat's patient is booked.")
    client_id: str | None = Field(default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                  description="Makes a retry safe: the same id books once and posts once.")


class ChatBooked(BaseModel):
    appointment: Appointment
    message: Message = Field(description="The confirmation posted in the chat.")


class Receipts(BaseModel):
    patient: int = 0
    staff: int = 0


class Posted(BaseModel):
    items: list[Message] = Field(description="The message, then any system message it caused (emergency advice, the "
                                             "out-of-hours reply).")


class RuleTableView(BaseModel):
    table: str
    table_version: int
    rules: list[dict]
    published_at: str | None = None
    published_by: str | None = None
    note: str | None = None


class RuleTablePut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[dict] = Field(min_length=1, max_length=500)
    note: str | None = Field(default=None, max_length=200)


# opening and following a chat ----------------------------------------------------------------------------------
@api.route("POST", "/v1/consultations", summary="Open a consultation", tags=TAGS, allow=PUBLIC,
           request=ConsultationOpen, response=Opened, status=201,
           errors={403: "A role that does not open chats (patients, visitors and the desk logging a call do).",
                   404: "No such patient, or not one the caller acts for (`patient_id`).",
                   422: "A field is invalid.", 429: "Too many chats opened from here."})
def open_consultation(call: Call) -> Reply:
    """Anyone may open a chat with a first message: an anonymous visitor gets `visitor_token` (access and refresh
    tokens of role `visitor`) for the following calls; a signed-in patient may name a record they act for; a
    consultant logs a phone call (`channel: phone`; the chat is theirs at once). The chat is queued for the chosen
    department, or the one the triage rules guess from the text. Red flags in the message bring the emergency
    advice at once (in `messages`); out of service hours the automatic reply states the next opening."""
    tokens = None
    if not call.principal.authenticated:
        tokens = call.rpc("identity", "open_visitor_session")
        call.principal = verifier().principal(tokens["access_token"])
    opened = call.rpc("intake", "open_consultation", call.body.model_dump(mode="json", exclude_none=True))
    if tokens:
        opened["visitor_token"] = tokens
    return Reply(opened, 201, {"Location": f"/v1/consultations/{opened['consultation']['id']}"})


@api.route("GET", "/v1/consultations", summary="My consultations", tags=TAGS, allow=CHAT, query=MineQuery,
           response=list[Consultation])
def my_consultations(call: Call) -> list:
    """A patient's or visitor's consultations; a consultant's or team lead's current chats. Newest first."""
    return call.rpc("intake", "my_consultations", call.query.include_closed)


@api.route("GET", "/v1/consultations/{consultation_id}", summary="Get a consultation", tags=TAGS, allow=CHAT,
           response=Consultation, errors=NOT_YOURS)
def get_consultation(call: Call, consultation_id: str) -> dict:
    """Status, department, urgency, the queue position and expected wait while waiting (or the next opening time
    out of hours), unread count and read receipts."""
    return call.rpc("intake", "get_consultation", consultation_id)


@api.route("GET", "/v1/consultations/{consultation_id}/messages", summary="Read the messages", tags=TAGS,
           allow=CHAT, query=MessagesQuery, response=Messages, errors=NOT_YOURS)
def list_messages(call: Call, consultation_id: str) -> dict:
    """In order (by `seq`). With `wait`, a long-poll: answers as soon as a newer message exists."""
    q = call.query
    seen = streams.hub.version(consultation_id)
    page = call.rpc("intake", "list_messages", consultation_id, q.after, q.limit)
    if q.wait and not page["items"]:
        if streams.hub.wait(consultation_id, seen, q.wait) != seen:
            page = call.rpc("intake", "list_messages", consultation_id, q.after, q.limit)
    return page


@api.route("POST", "/v1/consultations/{consultation_id}/messages", summary="Send a message", tags=TAGS,
           allow=CHAT, request=MessageInput, response=Posted, status=201, errors={**NOT_YOURS, **CHANGED})
def post_message(call: Call, consultation_id: str) -> Reply:
    """Text, or (staff) a knowledge-base template filled with the patient's surname, the department and `values`.
    Set `client_id` to make a retry safe: the same id is stored once."""
    items = call.rpc("intake", "post_message", consultation_id, call.body.model_dump(mode="json", exclude_none=True))
    return Reply({"items": items}, 201)


def resumed_after(last_event_id: str | None, default: int) -> int:
    """The seq a reconnecting browser says it saw last; anything that is not one (``²`` is a digit to Python, not to
    ``int``) is ignored, as the stream's own ids are plain numbers."""
    if last_event_id and len(last_event_id) <= 10 and last_event_id.isascii() and last_event_id.isdigit():
        return min(int(last_event_id), SEQ_MAX)
    return default


@api.route("GET", "/v1/consultations/{consultation_id}/stream", summary="Live messages (Server-Sent Events)",
           tags=TAGS, allow=CHAT, query=StreamQuery, errors=NOT_YOURS, content_type="text/event-stream")
def stream(call: Call, consultation_id: str) -> Stream:
    """`text/event-stream`: `message` events (JSON message, `id` = seq) and `read` events (receipts), within a
    second of being posted. The stream ends after about a minute; reconnect with `Last-Event-ID` (browsers do it by
    themselves) and a fresh access token."""
    after = resumed_after(call.req.get_header("Last-Event-ID"), call.query.after)
    first = call.rpc("intake", "list_messages", consultation_id, after, 100)
    return Stream(streams.conversation(
        lambda since: call.rpc("intake", "list_messages", consultation_id, since, 100), consultation_id, after, first))


@api.route("POST", "/v1/consultations/{consultation_id}/attachments", summary="Share a photo, video or document",
           tags=TAGS, allow=CHAT, query=AttachmentQuery, response=Posted, status=201,
           raw_body="The file's bytes (photo, short video or PDF); the kind is read from its content.",
           errors={**NOT_YOURS, **CHANGED, 413: "The file is too large.",
                   422: "Not an accepted kind of file (decided by its content), or empty."})
def post_attachment(call: Call, consultation_id: str) -> Reply:
    """Send the file itself as the body (any Content-Type; the kind is read from the bytes): photos (JPEG, PNG, GIF,
    WebP, HEIC) up to 10 MiB, videos (MP4, MOV) up to 20 MiB, PDF documents up to 10 MiB. Stored encrypted."""
    limit = MAX_FILE_BYTES  # the largest any file may be (a video); intake checks each kind's own limit
    data = read_body_bytes(call.req, limit, what="file")
    items = call.rpc("intake", "post_attachment", consultation_id, base64.b64encode(data).decode(), call.query.name)
    return Reply({"items": items}, 201)


@api.route("GET", "/v1/consultations/{consultation_id}/attachments/{attachment_id}", summary="Download a file",
           tags=TAGS, allow=CHAT, errors=NOT_YOURS, media_types=FILE_TYPES)
def get_attachment(call: Call, consultation_id: str, attachment_id: str) -> Reply:
    """The file as shared, with its detected Content-Type; always a download (never rendered inline)."""
    file = call.rpc("intake", "get_attachment", consultation_id, attachment_id)
    return Reply(base64.b64decode(file["data_b64"]), 200, {
        "Content-Type": file["content_type"],
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(unquote(file['name']))}"})


@api.route("POST", "/v1/consultations/{consultation_id}/read", summary="Read receipt", tags=TAGS, allow=CHAT,
           request=ReadReceipt, response=Receipts, errors={**NOT_YOURS, 422: "seq beyond the last message."})
def mark_read(call: Call, consultation_id: str) -> dict:
    return call.rpc("intake", "mark_read", consultation_id, call.body.model_dump())


# structured history and triage -----------------------------------------------------------------------------------
@api.route("GET", "/v1/consultations/{consultation_id}/history", summary="The structured history", tags=TAGS,
           allow=CHAT, response=History, errors=NOT_YOURS)
def get_history(call: Call, consultation_id: str) -> dict:
    """Sections: subject, present illness, past history, allergies, medications, follow-up eligibility; with the
    completion of each."""
    return call.rpc("intake", "get_history", consultation_id)


@api.route("PATCH", "/v1/consultations/{consultation_id}/history", summary="Fill in the structured history",
           tags=TAGS, allow=CHAT, request=HistoryPatch, response=History, errors={**NOT_YOURS, **CHANGED})
def save_history(call: Call, consultation_id: str) -> dict:
    """Each section sent replaces the stored one. Red flags in it raise the same alert as in a message; a prior
    in-person diagnosis with a document shared in the chat or a record reference makes the patient eligible for
    online follow-up visits."""
    return call.rpc("intake", "save_history", consultation_id, call.body.model_dump(mode="json", exclude_unset=True))


class TriageQuery(BaseModel):
    """What the patient said they prefer (optional)."""

    model_config = ConfigDict(extra="forbid")
    sex: Literal["male", "female"] | None = Field(default=None, description="A male or female doctor.")
    doctor_id: str | None = Field(default=None, description="A doctor the patient asked for by name.")
    title: str | None = Field(default=None, max_length=40, description="e.g. 主任医师")


@api.route("GET", "/v1/consultations/{consultation_id}/triage", summary="Department and doctor advice", tags=TAGS,
           allow=STAFF, query=TriageQuery, response=TriageAdvice, errors=NOT_YOURS)
def get_triage(call: Call, consultation_id: str) -> dict:
    """From the patient's messages and history, by the managers' rule table (its version is shown): departments
    with the matched words and a hedged reason, and doctors of the first one (booking's catalogue) with the reasons
    for their rank: expertise matched, free places in the next 3 days, the patient's stated preference."""
    preference = call.query.model_dump(exclude_none=True)
    return call.rpc("intake", "get_triage", consultation_id, preference or None)


@api.route("POST", "/v1/consultations/{consultation_id}/department", summary="Record the department chosen",
           tags=TAGS, allow=STAFF, request=DepartmentChoice, response=TriageAdvice, errors=NOT_YOURS)
def choose_department(call: Call, consultation_id: str) -> dict:
    """The consultant's choice is recorded beside the advice (`triage_recommended`)."""
    return call.rpc("intake", "choose_department", consultation_id, call.body.model_dump(exclude_none=True))


# taking a chat on --------------------------------------------------------------------------------------------------
def _staff_action(path: str, summary: str, method: str, request=None, doc: str = "", status: int = 200):
    def handler(call: Call, consultation_id: str) -> dict:
        args = [call.body.model_dump(mode="json", exclude_none=True)] if request else []
        return call.rpc("intake", method, consultation_id, *args)

    handler.__name__ = method
    handler.__doc__ = doc
    api.route("POST", f"/v1/consultations/{{consultation_id}}/{path}", summary=summary, tags=TAGS,
              allow=STAFF, request=request, response=Consultation, status=status,
              errors={**NOT_YOURS, **CHANGED, **({422: "A field is invalid."} if request else {})})(handler)


_staff_action("accept", "Accept the chat offered to you", "accept_consultation",
              doc="Within 25 s of it being offered (`CONSULT_ACCEPT_SECONDS`); a missed offer goes back to the "
                  "queue and takes the consultant off the desk until they say they are back.")
_staff_action("pick", "Take a waiting chat from the queue", "pick_consultation")
_staff_action("transfer", "Hand the chat to a colleague or the team lead", "transfer_consultation", Transfer,
              doc="To a colleague on the roster (who then accepts it), or (no `to`, reason `team_lead` or `abusive`) "
                  "to the team lead of the shift on duty. The note is for staff only.")
_staff_action("patient", "Link the visitor to a registered patient", "link_patient", PatientLink,
              doc='"Rename the visitor": this consultation and the same visitor\'s other ones now belong to the '
                  "patient (one the staff member may see, e.g. one they just registered).")
_staff_action("close", "Close and mark the consultation", "close_consultation", Close,
              doc="Outcome, disease category and tags for the statistics. The transcript is kept "
                  "`TRANSCRIPT_RETENTION_DAYS` (3 years by default).")


@api.route("POST", "/v1/consultations/{consultation_id}/appointments", summary="Book from the chat", tags=TAGS,
           allow=STAFF, request=ChatBooking, response=ChatBooked, status=201,
           errors={**NOT_YOURS, 409: "The chat is not active or not linked to a patient, or the slot is full.",
                   422: "A field is invalid (booking's rules, e.g. a first visit cannot be an online diagnosis)."})
def book_from_chat(call: Call, consultation_id: str) -> Reply:
    """The consultant books a slot (or a half-day: 10:00 / 14:00 by default) for the chat's patient through the
    booking service, without leaving the chat; the confirmation appears in the chat as a `booking` message."""
    body = call.body.model_dump(mode="json", exclude_none=True)
    body.pop("patient_id", None)
    return Reply(call.rpc("intake", "book_from_chat", consultation_id, body), 201)


@api.route("GET", "/v1/consultations/{consultation_id}/handover", summary="Handover notes", tags=TAGS, allow=STAFF,
           response=list[dict], errors=NOT_YOURS)
def handover_notes(call: Call, consultation_id: str) -> list:
    return call.rpc("intake", "handover_notes", consultation_id)


@api.route("POST", "/v1/consultations/{consultation_id}/rating", summary="Rate a closed consultation", tags=TAGS,
           allow=PATIENT_SIDE, request=Rating, response=Consultation, errors={**NOT_YOURS, **CHANGED})
def rate(call: Call, consultation_id: str) -> dict:
    return call.rpc("intake", "rate_consultation", consultation_id, call.body.model_dump(exclude_none=True))


@api.route("POST", "/v1/consultations/{consultation_id}/example", summary="Save as a training example",
           tags=TAGS, allow=STAFF, request=ExampleMark, response=dict, errors=NOT_YOURS)
def mark_example(call: Call, consultation_id: str) -> dict:
    """One satisfied and one unsatisfied example a day, named "disease — topic" (the desk's training practice)."""
    return call.rpc("intake", "mark_example", consultation_id, call.body.model_dump())


# the desk ----------------------------------------------------------------------------------------------------------
@api.route("GET", "/v1/desk/queue", summary="Waiting chats", tags=DESK_TAGS, allow=STAFF, response=list[QueueItem])
def queue(call: Call) -> list:
    """Urgent first, then the longest waiting; no message text (open a chat to read it, which is audited)."""
    return call.rpc("intake", "consultation_queue")


@api.route("GET", "/v1/desk", summary="The team lead's live view", tags=DESK_TAGS, allow={Role.team_lead},
           response=DeskView)
def desk_view(call: Call) -> dict:
    """Queue, consultants on duty with their load, red flags, today's service-level breaches and open incidents."""
    return call.rpc("intake", "desk_view")


@api.route("GET", "/v1/desk/stream", summary="Desk events (Server-Sent Events)", tags=DESK_TAGS, allow=STAFF,
           content_type="text/event-stream")
def desk_stream(call: Call) -> Stream:
    """`desk` events as they happen: chats opened, offered, accepted, transferred, closed; red flags; breaches;
    incidents (ids, codes and kinds only). Ends after about a minute; reconnect."""
    call.rpc("intake", "consultation_queue")  # the caller may watch the desk (a consultant or team lead)
    return Stream(streams.desk())


@api.route("PUT", "/v1/desk/presence", summary="Go on or off the desk", tags=DESK_TAGS, allow=STAFF,
           request=Presence, response=RosterView)
def set_presence(call: Call) -> dict:
    """Available consultants on a shift that is on duty are offered chats."""
    return call.rpc("intake", "set_presence", call.body.model_dump())


@api.route("PUT", "/v1/desk/roster/{consultant_id}", summary="Set a consultant's skills, shifts and chat limit",
           tags=DESK_TAGS, allow={Role.team_lead}, request=RosterEntry, response=RosterView,
           errors={404: "Not a staff account id.", 422: "A field is invalid (e.g. an unknown shift)."})
def put_roster(call: Call, consultant_id: str) -> dict:
    return call.rpc("intake", "put_roster", consultant_id, call.body.model_dump())


@api.route("GET", "/v1/desk/shifts", summary="The shift table", tags=DESK_TAGS,
           allow={Role.consultant, Role.team_lead, Role.manager}, response=list[Shift])
def get_shifts(call: Call) -> list:
    return call.rpc("intake", "get_shifts")


@api.route("PUT", "/v1/desk/shifts", summary="Edit the shift table", tags=DESK_TAGS,
           allow={Role.team_lead, Role.manager}, request=ShiftTable, response=list[Shift],
           errors={422: "A shift is invalid (names the field, e.g. `shifts[1].end`)."})
def put_shifts(call: Call) -> list:
    """Times are the hospital's local time; an end before the start runs past midnight. Service hours are the
    union of the shifts."""
    return call.rpc("intake", "put_shifts", call.body.model_dump())


@api.route("GET", "/v1/desk/examples", summary="Saved training examples", tags=DESK_TAGS, allow=STAFF,
           response=list[dict])
def training_examples(call: Call) -> list:
    return call.rpc("intake", "training_examples")


@api.route("GET", "/v1/rule-tables/{table}", summary="The current triage or red-flag rules", tags=DESK_TAGS,
           allow={Role.consultant, Role.team_lead, Role.manager}, response=RuleTableView,
           errors={404: "No such table (triage, red_flags)."})
def get_rule_table(call: Call, table: Literal["triage", "red_flags"]) -> dict:
    return call.rpc("intake", "get_rule_table", table)


@api.route("PUT", "/v1/rule-tables/{table}", summary="Publish a new version of a rule table", tags=DESK_TAGS,
           allow={Role.manager}, request=RuleTablePut, response=RuleTableView, status=201,
           errors={404: "No such table.", 409: "Another version was published meanwhile.",
                   422: "A rule is invalid (names it, e.g. `rules[3].keywords`)."})
def publish_rule_table(call: Call, table: str) -> Reply:
    """Every edit is a new version; the version in force is stamped on each red flag and triage advice."""
    return Reply(call.rpc("intake", "publish_rule_table", table, call.body.rules, call.body.note), 201)
