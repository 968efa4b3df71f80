"""The online consultation desk: chats and their messages, files, the structured history, taking chats on and
handing them over, closing and marking them, the triage advice and booking from the chat; and around the chats the
shifts, the roster, routing, service levels and incidents (docs/consultations.md).

Files:

* ``rules.py`` — what a chat is and who may read or act on it, texts, the history's view (pure); with the desk's
  other pure rule modules ``routing.py`` (who gets which chat), ``shifts.py`` (service hours), ``sla.py`` (the
  clocks) and ``files.py`` (what a shared file is);
* ``store.py`` — every MongoDB query of the desk (``DeskStore``), encryption of messages, notes, history and files;
* ``usecases.py`` — the chat's operations; ``staffing.py`` — the desk's: shifts, roster, presence, queue, the team
  lead's view, and the loop's rounds (``DeskLoop``: routing and the service-level clocks);
* ``entrypoints.py`` — ``DeskEntrypoints`` (RPC) and ``DeskRunner`` (the loop beside the workers).

Invariants and what enforces them: one message per position and a retried post stored once (unique indexes on
(consultation, seq) and (consultation, client_id)); an offer, a pick and an acceptance are conditional updates on the
chat's status, so a routing round and a picking consultant never both win; each breach is raised once (its key in
``sla_raised``, in the update's filter); one incident per chat (a unique index).

What the desk asks of the other capabilities, each through a narrow interface passed in :class:`usecases.Desk`:
patients (``PatientAccess``: who may see a patient, an account's links, a care relationship granted when a chat is
taken and ended when it is handed on or a day after it closes, a surname for a template), triage (``TriageRules``:
red flags, a department guessed or advised, the departments' names) and, from the entrypoints, the knowledge base
(a template rendered, doctors' profiles when booking does not answer).
"""
