"""Staff accounts: created by an admin (who gets a one-time activation code, kept as a SHA-256 hash, valid 72 hours),
activated by the person (a password, then the TOTP enrolment through sessions' challenge), changed or disabled by an
admin (a disabled or re-roled account's sessions end at once), reset when a password or authenticator is lost, and
shown by name to a patient who looks at who read their record. The records service reads a prescriber's role,
status, licence and start of independent practice (``prescriber``, records only, audited) when a prescription is
signed. The first admin comes from ``make admin``, once.

Invariants and what enforces them: a username is unique (the accounts' unique ``login_index``: a 409 naming
``username``); the first admin is made once (a marker document's ``_id`` in ``meta``); activation is one conditional
update (status, code hash and expiry in its filter); a role must find the fields it needs (licence, title,
department), checked inside the change's transaction so a refused change leaves nothing; only doctors and pharmacists
carry a start of independent practice (``practising_since``, not in the future: the contract), checked the same way;
admins cannot disable or reset their own account.
"""
