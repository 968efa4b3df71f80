"""Records: encounters (the record of a visit) and the doctor's signed report; e-prescriptions and the pharmacists'
review; the hospital's ICD-10 list and formulary.

A doctor opens the encounter of their own appointment, writes the report as a draft, signs it (it is then
immutable: a correction is an amendment, a new version beside the earlier ones) and closes the encounter. Patients
read the signed reports of the records they act for; a doctor reads their own encounters and those of patients
they care for. Every read is audited; a patient sees who read their record (`GET /v1/patients/{id}/access-log`).
"""
from __future__ import annotations

import base64
from urllib.parse import quote

from contracts.records.codes import CodeQuery, DiagnosisCode, DiagnosisCodeEntry, Drug, DrugEntry, RevisionQuery
from contracts.records.encounters import (
    ATTACHMENT_TYPES,
    MAX_ATTACHMENT_BYTES,
    AmendmentRequest,
    ChatAttachmentRequest,
    Encounter,
    EncounterAttachment,
    EncounterAttachmentQuery,
    EncounterQuery,
    EncounterRequest,
    ReportContent,
)
from contracts.records.prescriptions import (
    ExtendRequest,
    Prescription,
    PrescriptionQuery,
    PrescriptionRequest,
    ReviewRequest,
)
from contracts.records.results import (
    LogEntry,
    LogEntryInput,
    LogQuery,
    Order,
    OrderRequest,
    Result,
    ResultInput,
    ResultQuery,
)
from contracts.records.retention import HoldRequest, LegalHold, RecordRetention
from gateway.api import Call, Reply, read_body_bytes
from gateway.app_api import api
from wenzhen.auth import Role

TAGS = ["records"]
RX = ["prescriptions"]
CODES = ["code lists"]
DOCTORS = {Role.doctor}
READERS = {Role.patient, Role.doctor}
NOT_YOURS = "No such encounter, or not one the caller may see (the two are not told apart)."
NOT_AUTHOR = "Only the encounter's doctor writes in it."


@api.route("POST", "/v1/encounters", summary="Open the encounter of an appointment", tags=TAGS, allow=DOCTORS,
           request=EncounterRequest, response=Encounter, status=201,
           errors={404: "No such appointment of this doctor (records learns of a booking from booking's events: a "
                        "just-made booking may take a moment).",
                   409: "The appointment has an encounter already, or was cancelled or missed.",
                   422: "The mode does not fit the appointment (in person or online)."})
def open_encounter(call: Call) -> Reply:
    """The appointment's doctor, once per appointment. A follow-up (`follow_up`) of a condition diagnosed in person
    before (`prior_in_person_diagnosis`) is what online prescribing needs; booking's kind of visit decides both."""
    return Reply(call.rpc("records", "open_encounter", call.body.model_dump(mode="json", exclude_none=True)), 201)


@api.route("GET", "/v1/encounters", summary="List encounters", tags=TAGS, allow=READERS, query=EncounterQuery,
           response=list[Encounter],
           errors={403: "A patient names a record they act for; a doctor a patient they care for (or none: their "
                        "own encounters)."})
def list_encounters(call: Call) -> list:
    """Newest first. Patients see signed reports only; the doctor of an encounter also sees its draft."""
    return call.rpc("records", "list_encounters", call.query.model_dump(mode="json", exclude_none=True))


@api.route("GET", "/v1/encounters/{encounter_id}", summary="Read an encounter and its report", tags=TAGS,
           allow=READERS, response=Encounter, errors={404: NOT_YOURS})
def get_encounter(call: Call, encounter_id: str) -> dict:
    """With every signed version of the report, oldest first (the last is current; each amendment says why)."""
    return call.rpc("records", "get_encounter", encounter_id)


@api.route("PUT", "/v1/encounters/{encounter_id}/report", summary="Save the report's draft", tags=TAGS,
           allow=DOCTORS, request=ReportContent, response=Encounter,
           errors={403: NOT_AUTHOR, 404: NOT_YOURS, 409: "Signed or closed: correct it by an amendment."})
def save_draft(call: Call, encounter_id: str) -> dict:
    """The whole draft each time (the doctor's working copy, seen by nobody else)."""
    return call.rpc("records", "save_report_draft", encounter_id, call.body.model_dump(mode="json"))


@api.route("POST", "/v1/encounters/{encounter_id}/report/sign", summary="Sign the report", tags=TAGS,
           allow=DOCTORS, response=Encounter,
           errors={403: NOT_AUTHOR, 404: NOT_YOURS, 409: "Signed already, or the encounter is closed.",
                   422: "The draft needs the condition's analysis and at least one diagnosis with a code of the "
                        "hospital's ICD-10 list (each missing part is named)."})
def sign_report(call: Call, encounter_id: str) -> dict:
    """The draft becomes version 1, with the SHA-256 of its canonical JSON (`content_hash`), and never changes. A
    follow-up advised (`follow_up_in_days`) is in the `report_signed` event."""
    return call.rpc("records", "sign_report", encounter_id)


@api.route("POST", "/v1/encounters/{encounter_id}/amendments", summary="Amend the signed report", tags=TAGS,
           allow=DOCTORS, request=AmendmentRequest, response=Encounter, status=201,
           errors={403: NOT_AUTHOR, 404: NOT_YOURS,
                   409: "Not signed yet, or amended meanwhile (read it and amend the newest version).",
                   422: "The corrected content is incomplete or unchanged."})
def amend_report(call: Call, encounter_id: str) -> Reply:
    """The whole corrected content and the reason: a new version; the earlier ones stay as they were."""
    return Reply(call.rpc("records", "amend_report", encounter_id, call.body.model_dump(mode="json")), 201)


@api.route("POST", "/v1/encounters/{encounter_id}/attachments", summary="Keep an image or a PDF with the encounter",
           tags=TAGS, allow=DOCTORS, query=EncounterAttachmentQuery, response=EncounterAttachment, status=201,
           raw_body="The file's bytes (an image or a PDF); the kind is read from its content.",
           errors={403: NOT_AUTHOR, 404: NOT_YOURS, 409: "The encounter is closed.", 413: "The file is too large.",
                   422: "Not an image or a PDF (decided by its content), or empty."})
def add_encounter_attachment(call: Call, encounter_id: str) -> Reply:
    """Photos (JPEG, PNG, GIF, WebP, HEIC) and PDF documents up to 10 MiB, encrypted at rest and never deleted."""
    data = read_body_bytes(call.req, MAX_ATTACHMENT_BYTES, what="file")
    return Reply(call.rpc("records", "add_attachment", encounter_id, base64.b64encode(data).decode(),
                          call.query.name), 201)


@api.route("POST", "/v1/encounters/{encounter_id}/attachments/from-chat", summary="Keep a file the patient shared "
           "in a chat", tags=TAGS, allow=DOCTORS, request=ChatAttachmentRequest, response=EncounterAttachment,
           status=201, errors={403: NOT_AUTHOR, 404: "No such encounter of this doctor, or no such file in a "
                                                     "consultation of the encounter's patient.",
                               409: "The encounter is closed.", 422: "Not an image or a PDF (a chat's video)."})
def attach_from_chat(call: Call, encounter_id: str) -> Reply:
    """A photo or a PDF from an online consultation of the same patient, copied into the record (encrypted)."""
    return Reply(call.rpc("records", "attach_from_chat", encounter_id, call.body.model_dump(mode="json")), 201)


@api.route("GET", "/v1/encounters/{encounter_id}/attachments/{attachment_id}", summary="Download an attachment",
           tags=TAGS, allow=READERS, errors={404: NOT_YOURS}, media_types=ATTACHMENT_TYPES)
def get_encounter_attachment(call: Call, encounter_id: str, attachment_id: str) -> Reply:
    """The file as kept, with its detected Content-Type; always a download. Each download is audited."""
    file = call.rpc("records", "get_attachment", encounter_id, attachment_id)
    return Reply(base64.b64decode(file["data_b64"]), 200, {
        "Content-Type": file["content_type"],
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(file['name'])}"})


@api.route("POST", "/v1/encounters/{encounter_id}/close", summary="Close the encounter", tags=TAGS, allow=DOCTORS,
           response=Encounter,
           errors={403: NOT_AUTHOR, 404: NOT_YOURS, 409: "Closed already, or the report is not signed yet."})
def close_encounter(call: Call, encounter_id: str) -> dict:
    return call.rpc("records", "close_encounter", encounter_id)


# prescriptions ------------------------------------------------------------------------------------------------------
RX_READERS = {Role.patient, Role.doctor, Role.pharmacist}
NOT_YOUR_RX = "No such prescription, or not one the caller may see (the two are not told apart)."


@api.route("POST", "/v1/encounters/{encounter_id}/prescriptions", summary="Write and sign a prescription", tags=RX,
           allow=DOCTORS, request=PrescriptionRequest, response=Prescription, status=201,
           errors={403: "Only a doctor prescribes, personally.", 404: "No such encounter of this doctor.",
                   409: "The encounter is closed.",
                   422: "A prescribing rule refuses it: each broken rule is an error whose `type` is the rule's code "
                        "(online_follow_up, online_experience, online_controlled_drug, licensed_prescriber, real_name, "
                        "guardian, formulary, route, diagnosis_code, allergy, duplicate_therapy, days_supply, "
                        "long_term) and whose `field` is what breaks it. Nothing is stored."})
def sign_prescription(call: Call, encounter_id: str) -> Reply:
    """The doctor of an open encounter writes and signs in one step; the prescription then waits for a pharmacist's
    review and has no effect before it (`status: pending_review`). It is valid on the day of issue."""
    return Reply(call.rpc("records", "sign_prescription", encounter_id, call.body.model_dump(mode="json")), 201)


@api.route("GET", "/v1/prescriptions", summary="List prescriptions", tags=RX, allow=RX_READERS,
           query=PrescriptionQuery, response=list[Prescription],
           errors={403: "A patient names a record they act for; a doctor a patient they care for (or none: their "
                        "own prescriptions)."})
def list_prescriptions(call: Call) -> list:
    """Pharmacists: `status=pending_review` is the review queue, oldest first (anything else: what they reviewed).
    Every prescription listed is an audited read."""
    return call.rpc("records", "list_prescriptions", call.query.model_dump(mode="json", exclude_none=True))


@api.route("GET", "/v1/prescriptions/{prescription_id}", summary="Read a prescription", tags=RX,
           allow=RX_READERS, response=Prescription, errors={404: NOT_YOUR_RX})
def get_prescription(call: Call, prescription_id: str) -> dict:
    return call.rpc("records", "get_prescription", prescription_id)


@api.route("POST", "/v1/prescriptions/{prescription_id}/review", summary="Review a prescription", tags=RX,
           allow={Role.pharmacist}, request=ReviewRequest, response=Prescription,
           errors={403: "Nobody reviews a prescription they wrote.", 404: NOT_YOUR_RX,
                   409: "Reviewed already, or lapsed (an approval needs it still valid).",
                   422: "A rejection or a change request says why (`reason`)."})
def review_prescription(call: Call, prescription_id: str) -> dict:
    """Approve (it takes effect at once: `prescription_took_effect`, which pharmacy dispenses from), reject with a
    reason, or ask the doctor for a change (the doctor writes a new prescription). Once."""
    return call.rpc("records", "review_prescription", prescription_id, call.body.model_dump(mode="json",
                                                                                            exclude_none=True))


@api.route("POST", "/v1/prescriptions/{prescription_id}/extend", summary="Extend a prescription's validity",
           tags=RX, allow=DOCTORS, request=ExtendRequest, response=Prescription,
           errors={403: "Only the prescribing doctor extends it.", 404: NOT_YOUR_RX,
                   409: "It lapsed, was rejected, or is valid that long already."})
def extend_prescription(call: Call, prescription_id: str) -> dict:
    """To 2 or 3 days counted from the day of issue (never more), with the reason."""
    return call.rpc("records", "extend_prescription", prescription_id, call.body.model_dump(mode="json"))


# the code lists -----------------------------------------------------------------------------------------------------
STAFF_READERS = {Role.doctor, Role.pharmacist, Role.consultant, Role.team_lead, Role.manager}
STALE = "The entry exists (give the revision you read) or changed since that revision (read it again)."


@api.route("GET", "/v1/codes/icd10", summary="Search the hospital's ICD-10 list", tags=CODES, allow=STAFF_READERS,
           query=CodeQuery, response=list[DiagnosisCodeEntry])
def list_diagnosis_codes(call: Call) -> list:
    """The codes a diagnosis may carry, in code order (`q`: part of the code or of either name)."""
    return call.rpc("records", "list_diagnosis_codes", call.query.model_dump(mode="json", exclude_none=True))


@api.route("PUT", "/v1/codes/icd10/{code}", summary="Add or change a diagnosis code", tags=CODES,
           allow={Role.manager}, request=DiagnosisCode, query=RevisionQuery, response=DiagnosisCodeEntry,
           errors={409: STALE, 422: "Not an ICD-10 code (`code`), or a field is invalid."})
def put_diagnosis_code(call: Call, code: str) -> dict:
    """A new revision of the entry (a retired code, `active: false`, stays readable in old records)."""
    return call.rpc("records", "put_diagnosis_code", code, call.body.model_dump(mode="json"), call.query.revision)


@api.route("GET", "/v1/formulary", summary="Search the formulary", tags=CODES, allow=STAFF_READERS, query=CodeQuery,
           response=list[DrugEntry])
def list_drugs(call: Call) -> list:
    """The drugs a prescription may name, in code order, with their categories (narcotic, psychotropic, toxic,
    antimicrobial, cold chain …) and prices in fen."""
    return call.rpc("records", "list_drugs", call.query.model_dump(mode="json", exclude_none=True))


@api.route("GET", "/v1/formulary/{code}", summary="Read a formulary entry", tags=CODES, allow=STAFF_READERS,
           response=DrugEntry, errors={404: "No such drug in the formulary.", 422: "Not a drug code."})
def get_drug(call: Call, code: str) -> dict:
    return call.rpc("records", "get_drug", code)


@api.route("PUT", "/v1/formulary/{code}", summary="Add or change a formulary entry", tags=CODES,
           allow={Role.pharmacist}, request=Drug, query=RevisionQuery, response=DrugEntry,
           errors={409: STALE, 422: "Not a drug code (`code`), or a field is invalid."})
def put_drug(call: Call, code: str) -> dict:
    """A new revision (prescriptions keep the entry as it was when signed); `active: false` withdraws it."""
    return call.rpc("records", "put_drug", code, call.body.model_dump(mode="json"), call.query.revision)


# orders and results --------------------------------------------------------------------------------------------------
RESULTS = ["results"]
NOT_YOUR_ORDER = "No such order, or not one the caller may see (the two are not told apart)."
NOT_YOUR_RESULT = "No such result, or not one the caller may see (a patient sees released results only)."
LISTING = ("A patient names a record they act for (`patient_id`); a doctor a patient they care for, or an encounter "
           "of their own (`encounter_id`).")


@api.route("POST", "/v1/encounters/{encounter_id}/orders", summary="Order examinations", tags=RESULTS,
           allow=DOCTORS, request=OrderRequest, response=Order, status=201,
           errors={403: "Only a doctor orders.", 404: "No such encounter of this doctor.",
                   409: "The encounter is closed."})
def place_order(call: Call, encounter_id: str) -> Reply:
    """The encounter's doctor orders examinations (a FHIR ServiceRequest): the laboratory sees it in its work list
    and answers with the results."""
    return Reply(call.rpc("records", "place_order", encounter_id, call.body.model_dump(mode="json")), 201)


@api.route("GET", "/v1/orders", summary="List orders", tags=RESULTS, allow={Role.patient, Role.doctor, Role.lab},
           query=ResultQuery, response=list[Order], errors={403: LISTING})
def list_orders(call: Call) -> list:
    """The laboratory, without `patient_id` or `encounter_id`: the orders waiting for results (its work list,
    oldest first)."""
    return call.rpc("records", "list_orders", call.query.model_dump(mode="json", exclude_none=True))


@api.route("GET", "/v1/orders/{order_id}", summary="Read an order", tags=RESULTS,
           allow={Role.patient, Role.doctor, Role.lab}, response=Order, errors={404: NOT_YOUR_ORDER})
def get_order(call: Call, order_id: str) -> dict:
    return call.rpc("records", "get_order", order_id)


@api.route("POST", "/v1/results", summary="Record the results of an order", tags=RESULTS,
           allow={Role.lab, Role.doctor}, request=ResultInput, response=Result, status=201,
           errors={404: "No such order, or not one the caller may record results for.",
                   409: "The order has its result already."})
def record_result(call: Call) -> Reply:
    """Entered by the laboratory (or a doctor who ordered it or cares for the patient): values with units, reference
    ranges and flags (worked out from the range when not given). A laboratory system may post a FHIR Bundle to
    `POST /fhir` instead. Not shown to the patient until released."""
    return Reply(call.rpc("records", "record_result", call.body.model_dump(mode="json", exclude_none=True)), 201)


@api.route("GET", "/v1/results", summary="List results", tags=RESULTS, allow=READERS, query=ResultQuery,
           response=list[Result], errors={403: LISTING})
def list_results(call: Call) -> list:
    """Newest first; a patient sees the released ones. Every result listed is an audited read."""
    return call.rpc("records", "list_results", call.query.model_dump(mode="json", exclude_none=True))


@api.route("GET", "/v1/results/{result_id}", summary="Read a result", tags=RESULTS,
           allow={Role.patient, Role.doctor, Role.lab}, response=Result, errors={404: NOT_YOUR_RESULT})
def get_result(call: Call, result_id: str) -> dict:
    return call.rpc("records", "get_result", result_id)


@api.route("POST", "/v1/results/{result_id}/release", summary="Release a result to the patient", tags=RESULTS,
           allow=DOCTORS, response=Result,
           errors={403: "The ordering doctor, or a doctor caring for the patient, releases it.",
                   404: NOT_YOUR_RESULT, 409: "Released already."})
def release_result(call: Call, result_id: str) -> dict:
    """From now on the patient sees it; `result_released` tells notify to let them know."""
    return call.rpc("records", "release_result", result_id)


# the patient's own logs ----------------------------------------------------------------------------------------------
@api.route("POST", "/v1/patients/{patient_id}/logs", summary="Record a measurement or a symptom", tags=RESULTS,
           allow={Role.patient}, request=LogEntryInput, response=LogEntry, status=201,
           errors={403: "Not a record this account acts for.",
                   422: "A value does not fit its kind, is not plausible, or is in the future."})
def record_log(call: Call, patient_id: str) -> Reply:
    """Blood pressure (systolic/diastolic, mmHg), glucose (mmol/L, with `timing`), weight (kg), heart rate (/min),
    temperature (°C), or a symptom (`note`)."""
    return Reply(call.rpc("records", "record_log", patient_id, call.body.model_dump(mode="json", exclude_none=True)),
                 201)


@api.route("GET", "/v1/patients/{patient_id}/logs", summary="A patient's logs as a series", tags=RESULTS,
           allow=READERS, query=LogQuery, response=list[LogEntry],
           errors={403: "The patient's own record, or a patient the doctor cares for."})
def list_logs(call: Call, patient_id: str) -> list:
    """Newest first (`kind`, `since`, `until` narrow it)."""
    return call.rpc("records", "list_logs", patient_id, call.query.model_dump(mode="json", exclude_none=True))


# legal holds and retention -------------------------------------------------------------------------------------------
ADMINS = {Role.admin}


@api.route("POST", "/v1/patients/{patient_id}/legal-hold", summary="Place a legal hold on a patient's record",
           tags=TAGS, allow=ADMINS, request=HoldRequest, response=LegalHold, status=201,
           errors={409: "The record is held already."})
def place_legal_hold(call: Call, patient_id: str) -> Reply:
    """Nothing of the record may be disposed of while it lasts, whatever the retention periods say (Wenzhen deletes
    no clinical record; the hold binds whatever archive process comes after it). The reason is kept encrypted."""
    return Reply(call.rpc("records", "place_legal_hold", patient_id, call.body.model_dump(mode="json")), 201)


@api.route("POST", "/v1/patients/{patient_id}/legal-hold/release", summary="Release a legal hold", tags=TAGS,
           allow=ADMINS, request=HoldRequest, response=LegalHold, errors={404: "No active legal hold on the record."})
def release_legal_hold(call: Call, patient_id: str) -> dict:
    return call.rpc("records", "release_legal_hold", patient_id, call.body.model_dump(mode="json"))


@api.route("GET", "/v1/patients/{patient_id}/retention", summary="How long a patient's record is kept", tags=TAGS,
           allow=ADMINS, response=RecordRetention, errors={422: "Not a patient id (`patient_id`: pat_…)."})
def retention(call: Call, patient_id: str) -> dict:
    """Records at least 15 years from the newest encounter; prescriptions 1–3 years by category; the active hold."""
    return call.rpc("records", "retention", patient_id)
