"""The code lists: the ICD-10 subset diagnoses are coded from, and the drug formulary prescriptions are written from.

They ship as data (``services/records/data/icd10.json``, ``formulary.json``) and are loaded into records' database
when a process starts with a version of those files it has not loaded yet (an upgrade named by the files' digest):
entries missing are inserted, entries present are left as the hospital changed them. Managers maintain the
diagnosis list and pharmacists the formulary (PUT); each change is a new revision of the entry, made by one
conditional update naming the revision it changes (two editors never both win) and audited. Nothing is deleted: an
entry is retired (``active: false``), old records keep pointing at it, new ones cannot use it.
"""
