"""intake: patient records and who may see them, the online consultation desk, triage, the consultants' knowledge
base and complaints — five capabilities in one service (one database, one RPC name), each a sub-package of the same
files (``rules.py`` pure, ``store.py`` its MongoDB queries, ``usecases.py`` authorize → store → emit → audit,
``entrypoints.py`` thin Nameko adapters):

* ``patients/`` — registration, identity documents, links, care relationships and access;
* ``desk/`` — chats, messages, files, history, routing, shifts, service levels and the desk loop;
* ``triage/`` — the versioned rule tables (red flags, departments) and the advice made with them;
* ``knowledge/`` — reply templates, care tips, the fee schedule, doctors' profiles;
* ``complaints/`` — filing, the workflow and the deadlines' loop.

A capability asks another only through a narrow interface of that other's use cases (``patients.usecases.
PatientAccess``, ``triage.usecases.TriageRules``; the desk's entrypoints use two knowledge use cases), never through
its collections. Who may ask whom is checked by ``make lint`` (import-linter contracts in pyproject.toml): patients,
triage and the knowledge base ask nobody; complaints ask patients; the desk asks patients, triage and the knowledge
base; no other capability imports the desk or complaints.
"""
