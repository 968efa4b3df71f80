"""The shipped code lists as the unit tests' formulary and ICD-10 list (what a new hospital starts with)."""
from __future__ import annotations

import json

from contracts.records.codes import DiagnosisCodeEntry, DrugEntry
from services.records.codes.store import FILES

FORMULARY = {d["code"]: DrugEntry.model_validate({**d, "revision": 1})
             for d in json.loads(FILES["formulary"].read_text("utf-8"))}
ICD10 = {d["code"]: DiagnosisCodeEntry.model_validate({**d, "revision": 1})
         for d in json.loads(FILES["icd10"].read_text("utf-8"))}
