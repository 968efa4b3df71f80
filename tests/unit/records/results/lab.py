"""A laboratory's FHIR transaction Bundle, as a LIS would post one (for the tests)."""
from __future__ import annotations

from wenzhen.ids import to_fhir

POST_OBSERVATION = {"method": "POST", "url": "Observation"}


def lab_bundle(order_id: str, patient_id: str, *, identifier: str = "LIS-2026-000123", creatinine: float = 132.0,
               extra_entries: tuple = ()) -> dict:
    patient, order = f"Patient/{to_fhir(patient_id)}", f"ServiceRequest/{to_fhir(order_id)}"
    observations = [
        {"fullUrl": "urn:uuid:0f6c6c1e-0001-4f7e-9a6e-000000000001", "request": POST_OBSERVATION,
         "resource": {"resourceType": "Observation", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0",
                                           "display": "Creatinine [Mass/volume] in Serum"}], "text": "血肌酐"},
                      "subject": {"reference": patient},
                      "valueQuantity": {"value": creatinine, "unit": "umol/L", "system": "http://unitsofmeasure.org",
                                        "code": "umol/L"},
                      "referenceRange": [{"low": {"value": 57}, "high": {"value": 111}}]}},
        {"fullUrl": "urn:uuid:0f6c6c1e-0001-4f7e-9a6e-000000000002", "request": POST_OBSERVATION,
         "resource": {"resourceType": "Observation", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "5804-0", "display": "Protein"}],
                               "text": "尿蛋白"},
                      "valueString": "阴性",
                      "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                                "v3-ObservationInterpretation", "code": "N"}]}]}},
    ]
    report = {"fullUrl": "urn:uuid:0f6c6c1e-0001-4f7e-9a6e-0000000000aa",
              "request": {"method": "POST", "url": "DiagnosticReport"},
              "resource": {"resourceType": "DiagnosticReport", "status": "final",
                           "identifier": [{"system": "urn:lis:report", "value": identifier}],
                           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                                                     "code": "LAB"}]}],
                           "code": {"text": "肾功能 + 尿常规"}, "basedOn": [{"reference": order}],
                           "subject": {"reference": patient}, "issued": "2026-12-05T09:30:00+08:00",
                           "conclusion": "血肌酐轻度升高。",
                           "result": [{"reference": o["fullUrl"]} for o in observations]}}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [report, *observations, *extra_entries]}
