"""What Wenzhen's FHIR R4 interface and the services agree on: the version served, the code systems, and how a
reference names a Wenzhen id. FHIR ids allow ``[A-Za-z0-9-.]`` only, so an id ``pat_01H…`` is ``pat-01H…`` in FHIR
(``wenzhen.ids.to_fhir`` / ``from_fhir``: the one underscore after the prefix becomes a hyphen, reversibly)."""
from __future__ import annotations

from wenzhen.ids import from_fhir, to_fhir

FHIR_VERSION = "4.3.0"  # R4B: validated with fhir.resources' R4B models (docs/fhir.md says why not 4.0.1)
FHIR_JSON = "application/fhir+json"

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
FORMULARY = "urn:wenzhen:formulary"  # the hospital's drug codes
LOCAL_TEST = "urn:wenzhen:test"  # a laboratory's local test codes
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CATEGORY = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

def reference_id(reference: str | None, resource_type: str) -> str | None:
    """The Wenzhen id in a literal reference ``Patient/pat-01H…`` (relative, or absolute ending so), or None."""
    if not reference:
        return None
    head, _, tail = reference.rstrip("/").rpartition("/")
    if not head.endswith(resource_type):
        return None
    return from_fhir(tail)


__all__ = ["FHIR_VERSION", "from_fhir", "reference_id", "to_fhir"]
