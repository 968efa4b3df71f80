"""Staff accounts, managed by admins."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from contracts.identity.schemas import StaffAccount, StaffCreate, StaffCreated, StaffUpdate
from gateway.api import Call, Reply
from gateway.app_api import api
from wenzhen.auth import STAFF_ROLES, Role

TAGS = ["staff"]
ADMIN = {Role.admin}


class StaffFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["consultant", "doctor", "pharmacist", "team_lead", "lab", "finance", "manager", "admin"] | None = None


@api.route("POST", "/v1/staff", summary="Create a staff account", tags=TAGS, allow=ADMIN, request=StaffCreate,
           response=StaffCreated, status=201,
           errors={409: "The username is taken.", 422: "A field is invalid or missing for the role."})
def create_staff(call: Call) -> Reply:
    """The answer carries a one-time activation code for the person (valid 72 hours)."""
    staff = call.rpc("identity", "create_staff", call.body.model_dump(mode="json"))
    return Reply(staff, 201, {"Location": f"/v1/staff/{staff['id']}"})


@api.route("GET", "/v1/staff", summary="List staff accounts", tags=TAGS, allow=ADMIN, query=StaffFilter,
           response=list[StaffAccount])
def list_staff(call: Call) -> list:
    return call.rpc("identity", "list_staff", call.query.role)


@api.route("GET", "/v1/staff/{account_id}", summary="Get a staff account", tags=TAGS, allow=STAFF_ROLES,
           response=StaffAccount, errors={404: "No such staff account (staff other than admins see only their own)."})
def get_staff(call: Call, account_id: str) -> dict:
    return call.rpc("identity", "get_staff", account_id)


@api.route("PATCH", "/v1/staff/{account_id}", summary="Change a staff account", tags=TAGS, allow=ADMIN,
           request=StaffUpdate, response=StaffAccount, errors={404: "No such staff account."})
def update_staff(call: Call, account_id: str) -> dict:
    """A changed role or a disabled account ends its sessions at once."""
    return call.rpc("identity", "update_staff", account_id, call.body.model_dump(mode="json", exclude_none=True))


@api.route("POST", "/v1/staff/{account_id}/activation", summary="Reset a staff account's activation", tags=TAGS,
           allow=ADMIN, response=StaffCreated, errors={404: "No such staff account."})
def reset_activation(call: Call, account_id: str) -> dict:
    """For a lost password or authenticator: the old password and TOTP stop working; a new activation code."""
    return call.rpc("identity", "reset_activation", account_id)
