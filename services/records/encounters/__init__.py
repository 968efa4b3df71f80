"""Encounters: the record of one visit, and the doctor's report in it.

An encounter is opened from a booked appointment by that appointment's doctor, once (a unique index on
``appointment_id``); records knows the appointments from booking's events (``appointments``: ids, the doctor, the
service, the kind of visit, its status — newest by the appointment's event sequence). The doctor writes a draft and
signs it; a signed report is never changed: a correction is a new version (reason, author, time) beside the earlier
ones, which stay readable. The versions are inserted, never updated or deleted (``_id`` = encounter and version, and
the encounter's ``signed_versions`` moved on by a conditional update naming the version it had: two amendments never
take the same number). The clinical text is encrypted at rest (AES-GCM, bound to the encounter and the field).

Who reads: the patient (and accounts linked to the patient's record), the encounter's doctor, and a doctor who cares
for the patient (an encounter of their own with that patient). Every read is audited, a refused one too.
"""
