"""Patients' accounts: a phone confirmed by a one-time SMS code and a password, the consents given at sign-up (and
withdrawn later), a reset of the password by code, and the patient records the account acts for as kept from intake's
``patient_link_*`` events (intake owns the links; tokens ask it first).

Invariants and what enforces them: one account per phone number and one per username (the unique ``login_index``,
a blind index of the login: a second sign-up is a 409 naming ``phone``, whatever the concurrency); a code works once
(its ``used_at`` is set by a conditional update in the sign-up's transaction) and for at most ``OTP_MAX_ATTEMPTS``
guesses, each counted outside the transaction so that wrong guesses always count; the answer to a code request never
says whether the number has an account. Codes are limited per number (one per ``OTP_RESEND_SECONDS``, 5 an hour) and
per origin (30 an hour, sign-ups 20, scaled by ``RATE_LIMIT_ORIGIN_FACTOR``), counted in the database (atomic
``$inc``). The ``Account`` record (``rules.py``) is every capability's view of an account.
"""
