"""Patients: records, real-name identity documents, the links by which accounts act for records, and the care
relationships by which staff may see them.

Invariants and what enforces them:

* a phone number may be shared (relatives), an identity document belongs to one record only: a unique sparse index
  on its blind index (``store.INDEXES``), so a second record with it is a 409 naming ``number``;
* one active link per account and record, and one ``self`` per account: two unique partial indexes on
  ``patient_links``, so a second own record is a 409 naming ``relationship`` whatever the concurrency;
* a document is verified once: the verification is a conditional update on ``identity.status: unverified``;
* name, phone, address and the document number are encrypted at rest (AES-GCM, bound to the record) in the store;
  events carry ids, sex and the birth year only.

Who may see a record (``usecases.may_see``): a patient account its own and linked relatives' records (intake's own,
always current links, not the token's copy); consultants, doctors, pharmacists and team leads the patients they have a
care relationship with (registration 30 days; a chat while it needs it, ``desk.rules.CHAT_CARE``; an appointment
until 30 days after the visit); nobody else. A refused read is audited and answered like a missing record (404).

The other capabilities of intake ask patients only through :class:`usecases.PatientAccess` (who may see a record,
an account's links, a care relationship granted or ended, a surname): never through its collections.
"""
