"""The code lists' Nameko entrypoints."""
from __future__ import annotations

from contracts.records.codes import CodeQuery, DiagnosisCode, DiagnosisCodeEntry, Drug, DrugCode, DrugEntry, IcdCode
from services.records.codes import usecases
from services.records.codes.rules import FORMULARY, ICD10
from services.records.codes.store import CodeStore
from wenzhen.service import rpc
from wenzhen.timez import utcnow


class CodeEntrypoints:
    @property
    def codes(self) -> CodeStore:
        return CodeStore(self.store)

    @rpc
    def list_diagnosis_codes(self, query: CodeQuery) -> list[DiagnosisCodeEntry]:
        return usecases.search(self.codes, ICD10, query)

    @rpc
    def put_diagnosis_code(self, code: IcdCode, change: DiagnosisCode,
                           revision: int | None = None) -> DiagnosisCodeEntry:
        return usecases.put(self.codes, self.caller, ICD10, code, change, revision, utcnow())

    @rpc
    def list_drugs(self, query: CodeQuery) -> list[DrugEntry]:
        return usecases.search(self.codes, FORMULARY, query)

    @rpc
    def get_drug(self, code: DrugCode) -> DrugEntry:
        return usecases.get(self.codes, FORMULARY, code)

    @rpc
    def put_drug(self, code: DrugCode, change: Drug, revision: int | None = None) -> DrugEntry:
        return usecases.put(self.codes, self.caller, FORMULARY, code, change, revision, utcnow())
