"""Triage: the versioned rule tables managers publish (red flags, department keywords) and the advice made with them.

* ``redflags.py`` finds emergency signs in what a patient writes (pure); ``advice.py`` suggests departments and
  doctors with their reasons, never a diagnosis (pure); ``rules.py`` is what a rule table and its versions are (pure).
* Every edit is a new, complete version, never a change in place: the version an alert or an advice was made with
  (``rules_version`` in the events) can always be looked up. Version 0 is the built-in defaults and is never stored.
* Two managers publishing at the same moment cannot both get version *n*: the unique index on
  (table, table_version) (``store.INDEXES``) makes the second insert a 409; ``based_on`` refuses a publish made on a
  version that is no longer the newest.

The desk asks triage through :class:`usecases.TriageRules` only (red flags in texts, a department guess, the
departments' names, the department advice): the rule tables' storage stays triage's.
"""
