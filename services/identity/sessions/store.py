"""Every MongoDB query of sessions: sessions and their refresh tokens (kept as SHA-256 hashes), MFA challenges,
login failures and locks, visitors' accounts, and what signing in changes on an account (a rehashed password, the
TOTP step last used, an enrolment). Each precondition of a change is in its filter (a conditional update), never
read first and written after."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING

from contracts.identity.schemas import RevokedSession
from services.identity.accounts.rules import VISITOR, Account
from services.identity.accounts.store import ACCOUNTS, IdentityStoreBase, account_from_doc
from services.identity.sessions.rules import (
    CHALLENGE_KEPT,
    FAILURES_KEPT,
    MFA_MAX_ATTEMPTS,
    PREVIOUS_REFRESH_KEPT,
    SESSION_KEPT,
    Challenge,
    Session,
    token_hash,
)
from wenzhen.auth import Role
from wenzhen.storage import Index, Tx, find_and_modify
from wenzhen.timez import as_utc, to_utc_iso

SESSIONS = "sessions"
CHALLENGES = "mfa_challenges"
LOGIN_FAILURES = "login_failures"

INDEXES = [
    Index(SESSIONS, [("account_id", ASCENDING)], name="by_account"),
    Index(SESSIONS, [("purge_at", ASCENDING)], name="session_expiry", options={"expireAfterSeconds": 0}),
    Index(CHALLENGES, [("purge_at", ASCENDING)], name="challenge_expiry", options={"expireAfterSeconds": 0}),
    Index(LOGIN_FAILURES, [("purge_at", ASCENDING)], name="failure_expiry", options={"expireAfterSeconds": 0}),
]


def _session(doc: dict) -> Session:
    return Session(id=doc["_id"], account_id=doc["account_id"], created_at=as_utc(doc["created_at"]),
                   expires_at=as_utc(doc["expires_at"]), refresh_hash=doc["refresh_hash"],
                   previous_hashes=tuple(doc.get("previous_hashes", ())),
                   revoked_at=as_utc(doc["revoked_at"]) if doc.get("revoked_at") else None,
                   amr=tuple(doc.get("amr", ("pwd",))))


def _challenge(doc: dict) -> Challenge:
    return Challenge(id=doc["_id"], account_id=doc["account_id"], enrol=doc["enrol"], attempts=doc["attempts"],
                     expires_at=as_utc(doc["expires_at"]), secret_hash=doc["secret_hash"],
                     used_at=as_utc(doc["used_at"]) if doc.get("used_at") else None)


class SessionStore(IdentityStoreBase):
    # accounts, as signing in sees them ---------------------------------------------------------------------------
    def account_by_login(self, login_index: str) -> Account | None:
        doc = self.db[ACCOUNTS].find_one({"login_index": login_index})
        return account_from_doc(doc, self.keys) if doc else None

    def rehash_password(self, account_id: str, password_hash: str) -> None:
        """A hash made with weaker parameters, replaced at a successful sign-in."""
        self.db[ACCOUNTS].update_one({"_id": account_id}, {"$set": {"password": password_hash}})

    def set_pending_totp(self, account_id: str, secret: str) -> None:
        """A new enrolment secret (each challenge of an enrolment has its own, until the first code confirms one)."""
        self.db[ACCOUNTS].update_one({"_id": account_id}, {"$set": {
            "totp.pending": self.keys.encrypt(secret, field="totp", record=account_id)}})

    def finish_mfa(self, tx: Tx, account: Account, step: int, enrol: bool) -> bool:
        """Record the TOTP step used (and, enrolling, confirm the pending secret and activate the account), only if the
        step is newer than the last one used and the account's status is still the one read: False otherwise (a
        replayed code, or an account disabled between the password and the code)."""
        changes: dict = {"$set": {"totp.last_step": step}}
        if enrol:
            changes["$set"].update({"totp.secret": self.keys.encrypt(account.totp_pending, field="totp",
                                                                     record=account.id),
                                    "totp.enrolled": True, "status": "active"})
            changes["$unset"] = {"totp.pending": ""}
        done = tx[ACCOUNTS].update_one({"_id": account.id, "totp.last_step": {"$lt": step},
                                        "status": account.status}, changes)
        return done.modified_count == 1

    def insert_visitor(self, tx: Tx, visitor_id: str, now: datetime) -> Account:
        # no login: the index entry only keeps the unique login index satisfied (it never matches a sign-in)
        doc = {"_id": visitor_id, "kind": VISITOR, "role": Role.visitor.value, "status": "active",
               "login_index": f"visitor:{visitor_id}", "created_at": now}
        tx[ACCOUNTS].insert_one(doc)
        return account_from_doc(doc, self.keys)

    # sessions ----------------------------------------------------------------------------------------------------
    def insert_session(self, tx: Tx, session_id: str, account_id: str, refresh_secret: str, amr: tuple[str, ...],
                       origin_ip: str | None, now: datetime, expires_at: datetime) -> None:
        tx[SESSIONS].insert_one({
            "_id": session_id, "account_id": account_id, "created_at": now, "expires_at": expires_at,
            "purge_at": expires_at + SESSION_KEPT, "refresh_hash": token_hash(refresh_secret), "previous_hashes": [],
            "refreshed_at": now, "revoked_at": None, "amr": list(amr), "ip": origin_ip,
        })

    def rotate_refresh(self, session_id: str, secret: str, new_secret: str, now: datetime) -> Session | None:
        """Replace the refresh token when ``secret`` is the live session's current one (``rules.may_rotate``,
        here in the filter); the replaced hash is remembered. None when it is not."""
        old = token_hash(secret)
        doc = find_and_modify(self.db[SESSIONS],
                              {"_id": session_id, "refresh_hash": old, "revoked_at": None, "expires_at": {"$gt": now}},
                              {"$set": {"refresh_hash": token_hash(new_secret), "refreshed_at": now},
                               "$push": {"previous_hashes": {"$each": [old], "$slice": -PREVIOUS_REFRESH_KEPT}}})
        return _session(doc) if doc else None

    def session(self, session_id: str) -> Session | None:
        doc = self.db[SESSIONS].find_one({"_id": session_id})
        return _session(doc) if doc else None

    def revoke(self, tx: Tx, session_id: str, reason: str, now: datetime,
               account_id: str | None = None) -> Session | None:
        """End a live session (of ``account_id``, when given); None when it had ended already."""
        query: dict = {"_id": session_id, "revoked_at": None}
        if account_id:
            query["account_id"] = account_id
        doc = find_and_modify(tx[SESSIONS], query, {"$set": {"revoked_at": now, "revoked_reason": reason}})
        return _session(doc) if doc else None

    def live_sessions(self, tx: Tx, account_id: str) -> list[str]:
        return [s["_id"] for s in tx[SESSIONS].find({"account_id": account_id, "revoked_at": None}, {"_id": 1})]

    def revoked_since(self, since: datetime) -> list[RevokedSession]:
        cursor = self.db[SESSIONS].find({"revoked_at": {"$gte": since}}, {"_id": 1, "revoked_at": 1})
        return [RevokedSession(session_id=s["_id"], revoked_at=to_utc_iso(s["revoked_at"])) for s in cursor]

    # MFA challenges ----------------------------------------------------------------------------------------------
    def insert_challenge(self, challenge_id: str, account_id: str, enrol: bool, secret: str, now: datetime,
                         expires_at: datetime) -> None:
        self.db[CHALLENGES].insert_one({"_id": challenge_id, "account_id": account_id, "enrol": enrol,
                                        "secret_hash": token_hash(secret), "attempts": 0, "used_at": None,
                                        "expires_at": expires_at, "purge_at": expires_at + CHALLENGE_KEPT})

    def take_challenge(self, challenge_id: str, secret: str, now: datetime) -> Challenge | None:
        """Count one attempt at a challenge that may still be taken (``rules.may_take_challenge``, in the filter)."""
        doc = find_and_modify(
            self.db[CHALLENGES],
            {"_id": challenge_id, "secret_hash": token_hash(secret), "used_at": None, "expires_at": {"$gt": now},
            "attempts": {"$lt": MFA_MAX_ATTEMPTS}},
            {"$inc": {"attempts": 1}})
        return _challenge(doc) if doc else None

    def use_challenge(self, tx: Tx, challenge_id: str, now: datetime) -> None:
        tx[CHALLENGES].update_one({"_id": challenge_id}, {"$set": {"used_at": now}})

    # failures and locks ------------------------------------------------------------------------------------------
    def locked_until(self, login_index: str, now: datetime) -> datetime | None:
        lock = self.db[LOGIN_FAILURES].find_one({"_id": login_index, "locked_until": {"$gt": now}})
        return as_utc(lock["locked_until"]) if lock else None

    def count_failure(self, login_index: str, now: datetime) -> int:
        """One more failure for this login (whether or not an account has it); the count so far."""
        doc = find_and_modify(
            self.db[LOGIN_FAILURES],
            {"_id": login_index}, {"$inc": {"failures": 1}, "$set": {"purge_at": now + FAILURES_KEPT}},
            upsert=True)
        return doc["failures"]

    def lock(self, tx: Tx, login_index: str, until: datetime) -> None:
        tx[LOGIN_FAILURES].update_one({"_id": login_index}, {"$set": {"locked_until": until}})

    def clear_failures(self, login_index: str, tx: Tx | None = None) -> None:
        self._on(tx)[LOGIN_FAILURES].delete_one({"_id": login_index})
