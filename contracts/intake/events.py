"""Events intake publishes (exchange ``intake.events``).

Events carry identifiers, not personal data: they are copied to the broker, to
every subscriber and to reports' event log. A subscriber that needs contact
details asks intake for them (``intake.get_contact``), which decrypts them on
demand and audits the read.
"""
from __future__ import annotations

from pydantic import Field

from wenzhen.events import EventData


class PatientRegistered(EventData):
    """A patient registered with Wenzhen."""

    source = "intake"
    type = "patient_registered"
    version = 1

    patient_id: str
    sex: str = Field(description="FHIR administrative gender")
    birth_year: int = Field(description="Year of birth (for age-band statistics; no full date)")
    relationship: str | None = Field(default=None, description="Who registered it: `self` (the patient's own "
                                     "account), a relationship (a relative's account), or absent (staff)")


class PatientLinkCreated(EventData):
    """An account may now act for a patient record: its own (relationship ``self``) or a relative's."""

    source = "intake"
    type = "patient_link_created"

    link_id: str
    account_id: str
    patient_id: str
    relationship: str


class PatientLinkRemoved(EventData):
    """An account no longer acts for a patient record."""

    source = "intake"
    type = "patient_link_removed"

    link_id: str
    account_id: str
    patient_id: str


class PatientIdentityDocumentRecorded(EventData):
    """A patient's identity document was recorded (not yet verified). The number is not in the event."""

    source = "intake"
    type = "patient_identity_document_recorded"

    patient_id: str
    document_type: str


class PatientIdentityVerified(EventData):
    """A staff member verified a patient's real-name identity; prescribing for the patient is now possible."""

    source = "intake"
    type = "patient_identity_verified"

    patient_id: str
    document_type: str
    method: str = Field(description="in_person or video")
    verified_by: str = Field(description="The verifying staff account id")


# consultations (issue 4) ---------------------------------------------------------------------------------------------
# Events about chats carry ids, codes and counts: never message text, notes or names (subscribers that need the
# transcript ask intake, which checks who is asking and audits the read).
class ConsultationOpened(EventData):
    """A patient or an anonymous visitor opened an online consultation; it is queued."""

    source = "intake"
    type = "consultation_opened"

    consultation_id: str
    channel: str = Field(description="web, app, mini_program or phone")
    department: str | None = Field(default=None, description="Department code it is queued for, if known")
    department_source: str | None = Field(default=None, description="patient (chosen) or triage (guessed)")
    patient_id: str | None = None
    visitor: bool = Field(description="Opened by an anonymous visitor (not yet linked to a patient)")
    urgent: bool = Field(default=False, description="A red flag was found in the first message")
    in_service_hours: bool = True


class ConsultationAssigned(EventData):
    """A consultation was offered to a consultant (by the router, a pick from the queue or a transfer)."""

    source = "intake"
    type = "consultation_assigned"

    consultation_id: str
    consultant_id: str
    by: str = Field(description="router, pick or transfer")


class ConsultationAccepted(EventData):
    """The assigned consultant accepted the chat; waited_ms counts from opening."""

    source = "intake"
    type = "consultation_accepted"

    consultation_id: str
    consultant_id: str
    waited_ms: int


class ConsultationMessagePosted(EventData):
    """A message was added to a consultation (the text is not in the event)."""

    source = "intake"
    type = "consultation_message_posted"

    consultation_id: str
    message_id: str
    seq: int = Field(description="Position in the consultation, from 1")
    author: str = Field(description="patient, visitor, consultant, team_lead or system")
    kind: str = Field(description="text, image, video, file, emergency, auto_reply, booking or note")


class ConsultationRead(EventData):
    """One side read a consultation up to a message (read receipt)."""

    source = "intake"
    type = "consultation_read"

    consultation_id: str
    side: str = Field(description="patient or staff")
    seq: int


class ConsultationTransferred(EventData):
    """A consultant handed the chat to a colleague or the team lead (the note stays in intake)."""

    source = "intake"
    type = "consultation_transferred"

    consultation_id: str
    from_consultant_id: str
    to_consultant_id: str
    reason: str = Field(description="colleague, team_lead, abusive or shift_end")


class ConsultationPatientLinked(EventData):
    """A visitor's consultation now belongs to a registered patient ("rename the visitor")."""

    source = "intake"
    type = "consultation_patient_linked"

    consultation_id: str
    patient_id: str


class ConsultationIntakeCompleted(EventData):
    """Every section of the structured history is complete."""

    source = "intake"
    type = "consultation_intake_completed"

    consultation_id: str
    patient_id: str | None = None
    follow_up_eligible: bool = Field(description="A prior in-person diagnosis is on record (online diagnosis and "
                                                 "prescribing may follow)")


class TriageRecommended(EventData):
    """Department and doctor advice for a consultation, with the consultant's final choice."""

    source = "intake"
    type = "triage_recommended"

    consultation_id: str
    rules_version: int
    recommended: list[str] = Field(description="Department codes, best first")
    doctors: list[str] = Field(default_factory=list, description="Doctor account ids, best first")
    chosen_department: str | None = None
    followed: bool | None = Field(default=None, description="Did the choice follow the first recommendation")


class RedFlagRaised(EventData):
    """Emergency signs were found in a consultation; the patient was told to call 120 and the team lead alerted."""

    source = "intake"
    type = "red_flag_raised"

    consultation_id: str
    codes: list[str] = Field(description="Red-flag codes, e.g. chest_pain, stroke")
    found_in: str = Field(description="message or intake")
    rules_version: int
    patient_id: str | None = None


class ServiceLevelBreached(EventData):
    """A consultation missed a service level: accepting (default 25 s) or answering a message (default 60 s)."""

    source = "intake"
    type = "service_level_breached"

    consultation_id: str
    kind: str = Field(description="accept or answer")
    limit_seconds: int
    consultant_id: str | None = None
    shift: str | None = Field(default=None, description="The shift on duty when it was due")


class ConsultationIncidentOpened(EventData):
    """A patient waited with nobody on the chat: an incident naming the responsible shift and its team lead."""

    source = "intake"
    type = "consultation_incident_opened"

    incident_id: str
    consultation_id: str
    shift: str | None = None
    team_lead_id: str | None = None
    waited_seconds: int


class ConsultationClosed(EventData):
    """A consultation ended, marked for statistics."""

    source = "intake"
    type = "consultation_closed"

    consultation_id: str
    outcome: str = Field(description="booked, information_only, referred_in_person or dropped")
    disease_category: str | None = None
    tags: list[str] = Field(default_factory=list)
    department: str | None = None
    channel: str
    consultant_id: str | None = None
    patient_id: str | None = None
    messages: int
    duration_seconds: int


class ConsultationRated(EventData):
    """The patient rated a closed consultation (1–5)."""

    source = "intake"
    type = "consultation_rated"

    consultation_id: str
    rating: int
    consultant_id: str | None = None


class ConsultationExampleMarked(EventData):
    """A consultant saved a consultation as a satisfied or unsatisfied example for training."""

    source = "intake"
    type = "consultation_example_marked"

    consultation_id: str
    consultant_id: str
    example: str = Field(description="satisfied or unsatisfied")


class RuleTablePublished(EventData):
    """Managers published a new version of a rule table (triage or red flags)."""

    source = "intake"
    type = "rule_table_published"

    table: str = Field(description="triage or red_flags")
    table_version: int
    rules: int = Field(description="How many rules the version holds")


# complaints ----------------------------------------------------------------------------------------------------------
class ComplaintFiled(EventData):
    """A patient filed a complaint (the text stays in intake)."""

    source = "intake"
    type = "complaint_filed"

    complaint_id: str
    about: str = Field(description="consultation, appointment, pharmacy or bill")
    reference: str | None = Field(default=None, description="Id of what it is about")
    patient_id: str | None = None
    due_at: str = Field(description="Answer due (UTC, ISO 8601)")


class ComplaintStatusChanged(EventData):
    """A complaint moved in its workflow: received → investigating → answered → closed."""

    source = "intake"
    type = "complaint_status_changed"

    complaint_id: str
    status: str
    previous: str
    by: str = Field(description="Staff account id")


class ComplaintAnswered(EventData):
    """The hospital answered a complaint; notify tells the patient."""

    source = "intake"
    type = "complaint_answered"

    complaint_id: str
    patient_id: str | None = None
    answered_by: str
    on_time: bool


class ComplaintEscalated(EventData):
    """A complaint passed a deadline without an answer and was escalated to managers."""

    source = "intake"
    type = "complaint_escalated"

    complaint_id: str
    level: int = Field(description="1: team lead overdue → manager; 2: manager overdue → hospital management")
    due_at: str
