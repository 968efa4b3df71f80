"""Staff accounts' decisions, pure: who manages them and who reads one, what a role needs (and may carry), what an
admin may not do to their own account, which changes end the account's sessions, and how an account is shown."""
from __future__ import annotations

from datetime import timedelta

from contracts.identity.schemas import Prescriber, StaffAccount, StaffCard, missing_for_role
from services.identity.accounts.rules import Account
from wenzhen.auth import LICENSED_ROLES, Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.timez import to_local_iso

ACTIVATION_TTL = timedelta(hours=72)
LIST_LIMIT = 500
DIRECTORY_LIMIT = 200
WRONG_ACTIVATION = "The username or activation code is wrong or has expired."
FIRST_ADMIN_EXISTS = "The first admin exists already; admins create further accounts."


def require_admin(principal: Principal) -> None:
    if not principal.has_role(Role.admin):
        raise Forbidden("Your role may not do this.")


def may_read(principal: Principal, account_id: str) -> bool:
    """Admins read every staff account; other staff their own."""
    return principal.has_role(Role.admin) or (principal.is_staff and principal.sub == account_id)


def not_found(account_id: str) -> NotFound:
    return NotFound(f"No staff account {account_id}.")


def require_what_the_role_needs(role: str, values: dict) -> None:
    """Doctors and pharmacists: licence, title and department; consultants and team leads: a department."""
    missing = missing_for_role(role, values)
    if missing:
        raise InvalidInput(f"A {role} account needs {', '.join(missing)}.",
                           [field_error(name, f"is required for a {role}", "missing") for name in missing])


def require_licensed_for_practice_start(role: str, values: dict) -> None:
    """The start of independent practice is a doctor's or pharmacist's fact: other roles may not be given one."""
    if values.get("practising_since") is not None and Role(role) not in LICENSED_ROLES:
        raise InvalidInput(f"A {role} account has no start of independent practice.",
                           [field_error("practising_since", "applies only to doctors and pharmacists", "extra")])


def require_records(principal: Principal) -> None:
    if not principal.is_service("records"):
        raise Forbidden("Only the records service reads prescribers' licences this way.")


def role_fields(account: Account) -> dict:
    return {"department": account.department, "title": account.title, "licence_number": account.licence_number}


def require_changes(values: dict) -> dict:
    if not values:
        raise InvalidInput("Nothing to change.", [field_error("body", "name at least one field", "empty")])
    return values


def require_not_disabling_self(principal: Principal, account_id: str, values: dict) -> None:
    if values.get("status") == "disabled" and account_id == principal.sub:
        raise Conflict("Admins cannot disable their own account.", [field_error("status", "is your own", "self")])


def require_not_resetting_self(principal: Principal, account_id: str) -> None:
    if account_id == principal.sub:
        raise Conflict("Admins cannot reset their own activation; another admin can.",
                       [field_error("account_id", "is your own", "self")])


def ends_sessions(values: dict) -> bool:
    """Disabling an account or changing its role ends its sessions at once."""
    return values.get("status") == "disabled" or "role" in values


def require_signed_in(principal: Principal) -> None:
    """Staff names are what a hospital shows its patients anyway, but not to anybody."""
    if principal.kind != "user":
        raise Forbidden("Sign in to see who staff members are.")


def staff_view(account: Account) -> StaffAccount:
    return StaffAccount(id=account.id, username=account.username, name=account.name, role=account.role,
                        department=account.department, title=account.title, licence_number=account.licence_number,
                        practising_since=account.practising_since, status=account.status,
                        mfa_enrolled=account.totp_enrolled, created_at=to_local_iso(account.created_at))


def prescriber(account: Account) -> Prescriber:
    return Prescriber(account_id=account.id, role=account.role, active=account.status == "active",
                      licence_number=account.licence_number, practising_since=account.practising_since)


def staff_card(account: Account) -> StaffCard:
    return StaffCard(role=account.role, title=account.title, department=account.department, name=account.name)
