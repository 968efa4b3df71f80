"""Signing in and staying signed in: a password (and, for staff, always a TOTP code) opens a session; the client
holds a short-lived access token (an EdDSA JWT) and a refresh token (``<session id>.<secret>``, kept only as a SHA-256
hash) that is replaced at every refresh. Logout, a reused refresh token and the other capabilities' revocations (a
password reset, an admin's change) end a session and publish ``session_revoked``, which the gateway follows (and
catches up with ``revoked_sessions``). Anonymous visitors get a session of their own (role ``visitor``).

Invariants and what enforces them: a refresh token rotates once (the rotation's filter names the current hash; a
replaced one presented again ends the session: ``rules.refresh_reused``); a TOTP code works once, even across
challenges (the step must be newer than ``totp.last_step``, in the update's filter too) and only for an account still
in the status it was read in (an account disabled between password and code gets no session);
``LOGIN_MAX_FAILURES`` wrong passwords, codes or activation codes lock a login for ``LOCKOUT_SECONDS`` whether or not
an account exists (every such failure counted by an atomic ``$inc``); a staff member's right password does not forgive
failures, only a completed second factor does.
"""
