"""A laboratory's FHIR Bundle read into a result, or refused whole with every problem named by its FHIRPath."""
from __future__ import annotations

import copy

import pytest

from contracts.records.results import Flag
from services.records.results import bundle, rules
from tests.unit.records.results.lab import lab_bundle
from wenzhen.errors import InvalidInput

ORDER, PATIENT = "ord_01M93QFBEAY7PNK4TNKA2BYH6Z", "pat_01M93QFBEAY7PNK4TNKA2BYH70"


def refused(document) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as info:
        bundle.parse(document)
    return [(e["field"], e["type"]) for e in info.value.errors]


def test_a_laboratory_report_is_read_with_its_order_patient_values_ranges_and_flags():
    report = bundle.parse(lab_bundle(ORDER, PATIENT))
    assert (report.order_id, report.patient_id, report.identifier) == (ORDER, PATIENT, "LIS-2026-000123")
    assert report.category == "LAB" and report.conclusion == "血肌酐轻度升高。"
    assert report.issued.isoformat() == "2026-12-05T01:30:00+00:00"
    creatinine, protein = report.observations
    assert (creatinine.code, creatinine.value, creatinine.unit) == ("2160-0", 132.0, "umol/L")
    assert creatinine.reference_range.low == 57 and creatinine.reference_range.high == 111
    assert rules.flag_of(creatinine.value, creatinine.reference_range, creatinine.flag) == Flag.high
    assert (protein.text, protein.flag, protein.name) == ("阴性", Flag.normal, "Protein")


def test_a_malformed_bundle_is_refused_naming_each_element():
    broken = lab_bundle(ORDER, PATIENT)
    broken["entry"][1]["resource"]["valueQuantity"]["value"] = "lots"
    broken["entry"][2]["resource"]["code"] = "protein"
    assert refused(broken) == [("Bundle.entry[1].resource.valueQuantity.value", "structure"),
                               ("Bundle.entry[2].resource.code", "structure")]
    preliminary = lab_bundle(ORDER, PATIENT)
    preliminary["entry"][0]["resource"]["status"] = "preliminary"
    preliminary["entry"][2]["resource"]["status"] = "registered"
    assert refused(preliminary) == [("Bundle.entry[0].resource.status", "value"),
                                    ("Bundle.entry[2].resource.status", "value")]
    assert refused({"resourceType": "Patient"}) == [("Bundle.resourceType", "structure")]
    assert refused([1, 2]) == [("Bundle.resourceType", "structure")]
    batch = lab_bundle(ORDER, PATIENT)
    batch["type"] = "batch"
    assert refused(batch) == [("Bundle.type", "value")]


def test_what_the_report_must_name_and_hold():
    no_order = lab_bundle(ORDER, PATIENT)
    del no_order["entry"][0]["resource"]["basedOn"]
    assert refused(no_order) == [("Bundle.entry[0].resource.basedOn", "required")]
    stranger = lab_bundle(ORDER, PATIENT)
    stranger["entry"][1]["resource"]["subject"]["reference"] = "Patient/pat-01M93QFBEAY7PNK4TNKA2BYH71"
    assert refused(stranger) == [("Bundle.entry[1].resource.subject", "mismatch")]
    dangling = lab_bundle(ORDER, PATIENT)
    dangling["entry"][0]["resource"]["result"].append({"reference": "urn:uuid:nowhere"})
    assert refused(dangling) == [("Bundle.entry[0].resource.result[2]", "reference")]
    orphan = lab_bundle(ORDER, PATIENT, extra_entries=(copy.deepcopy(lab_bundle(ORDER, PATIENT)["entry"][1])
                                                        | {"fullUrl": "urn:uuid:extra"},))
    assert refused(orphan) == [("Bundle.entry[3]", "reference")]
    two = lab_bundle(ORDER, PATIENT)
    two["entry"].append(copy.deepcopy(two["entry"][0]))
    assert ("Bundle.entry", "structure") in refused(two)
    other = lab_bundle(ORDER, PATIENT, extra_entries=({"resource": {"resourceType": "Patient"}},))
    assert refused(other) == [("Bundle.entry[3].resource", "structure")]
    no_unit = lab_bundle(ORDER, PATIENT)
    del no_unit["entry"][1]["resource"]["valueQuantity"]["unit"], no_unit["entry"][1]["resource"]["valueQuantity"][
        "code"]
    assert refused(no_unit) == [("Bundle.entry[1].resource.value[x]", "value")]
