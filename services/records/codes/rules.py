"""Who maintains which list, and what a search matches (pure)."""
from __future__ import annotations

from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden, NotFound

ICD10 = "icd10"
FORMULARY = "formulary"
MAINTAINERS = {ICD10: Role.manager, FORMULARY: Role.pharmacist}
ENTITY = {ICD10: "DiagnosisCode", FORMULARY: "Drug"}


def require_maintainer(principal: Principal, code_list: str) -> None:
    role = MAINTAINERS[code_list]
    if not principal.has_role(role):
        raise Forbidden(f"Only a {role.value} maintains the {'diagnosis list' if code_list == ICD10 else 'formulary'}.")


def matches(entry: dict, q: str | None) -> bool:
    """Part of the code, or of either name (case-insensitive)."""
    if not q:
        return True
    needle = q.casefold()
    return any(needle in str(entry.get(key, "")).casefold() for key in ("code", "name", "name_en"))


def not_found(code_list: str, code: str) -> NotFound:
    what = "diagnosis code" if code_list == ICD10 else "drug"
    return NotFound(f"No {what} {code} in the hospital's list.")
