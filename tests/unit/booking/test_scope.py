"""The one listing rule of booking's appointments, waitlist entries and follow-up plans (services/booking/scope.py):
a patient naming a record they do not act for is a 404 (a resource), a doctor asking for another doctor's list a 403
saying so, the same in all three; what the desk may list differs by listing."""
import pytest

from services.booking import scope
from services.booking.scope import APPOINTMENTS, FOLLOW_UPS, WAITLIST, Scope, listing_scope
from tests.people import user
from tests.unit.booking.clinic import (
    CONSULTANT,
    DOCTOR,
    DOCTOR_ID,
    MANAGER,
    OTHER_DOCTOR,
    PATIENT,
    PAYMENTS,
    TEAM_LEAD,
)
from wenzhen.auth import Role
from wenzhen.errors import Forbidden, InvalidInput, NotFound

LISTINGS = (APPOINTMENTS, WAITLIST, FOLLOW_UPS)


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda listing: listing.name)
def test_a_patient_names_a_record_they_act_for_else_404(listing):
    assert listing_scope(listing, PATIENT.principal, patient_id="pat_kid") == Scope(patient_id="pat_kid")
    assert listing_scope(listing, PATIENT.principal, patient_id="pat_1", doctor_id=DOCTOR_ID) == Scope(
        patient_id="pat_1", doctor_id=DOCTOR_ID)
    for named in ("pat_2", None):
        with pytest.raises(NotFound, match="acts for"):
            listing_scope(listing, PATIENT.principal, patient_id=named)


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda listing: listing.name)
def test_a_doctor_lists_their_own_schedule_and_asking_for_another_s_is_403(listing):
    assert listing_scope(listing, DOCTOR.principal) == Scope(doctor_id=DOCTOR_ID)
    assert listing_scope(listing, DOCTOR.principal, doctor_id=DOCTOR_ID, patient_id="pat_1") == Scope(
        patient_id="pat_1", doctor_id=DOCTOR_ID)
    with pytest.raises(Forbidden) as info:
        listing_scope(listing, OTHER_DOCTOR.principal, doctor_id=DOCTOR_ID)
    assert info.value.detail == scope.DOCTOR_OWN and "A doctor lists their own schedule" in scope.DOCTOR_OWN


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda listing: listing.name)
def test_other_roles_may_not_list(listing):
    for caller in (MANAGER, user(Role.admin, "acc_a1"), PAYMENTS):
        with pytest.raises(Forbidden, match=listing.name):
            listing_scope(listing, caller.principal, patient_id="pat_1")


def test_what_the_desk_lists_differs_by_listing():
    # appointments: a consultant the bookings they made; a team lead by patient or doctor
    assert listing_scope(APPOINTMENTS, CONSULTANT.principal, patient_id="pat_1") == Scope(
        patient_id="pat_1", made_by="acc_c1")
    assert listing_scope(APPOINTMENTS, TEAM_LEAD.principal, doctor_id=DOCTOR_ID) == Scope(doctor_id=DOCTOR_ID)
    # the waitlist: a consultant a named patient's, else what they joined
    assert listing_scope(WAITLIST, CONSULTANT.principal) == Scope(made_by="acc_c1")
    assert listing_scope(WAITLIST, CONSULTANT.principal, patient_id="pat_1") == Scope(patient_id="pat_1")
    # follow-ups: the desk names a patient
    assert listing_scope(FOLLOW_UPS, TEAM_LEAD.principal, patient_id="pat_1") == Scope(patient_id="pat_1")
    for listing, caller, filters in ((APPOINTMENTS, TEAM_LEAD, {}), (WAITLIST, TEAM_LEAD, {}),
                                     (FOLLOW_UPS, CONSULTANT, {"doctor_id": DOCTOR_ID}),
                                     (FOLLOW_UPS, TEAM_LEAD, {})):
        with pytest.raises(InvalidInput) as info:
            listing_scope(listing, caller.principal, **filters)
        assert info.value.errors[0]["field"] == "patient_id"
