"""Patient complaints: logged (online by the patient, or by phone through a consultant), worked and answered.

Why it looks like this:

* The complaint text, the hoped-for outcome, the answer and staff notes are personal health data: AES-GCM encrypted
  at rest (in ``store.py``) like patient fields, and every read is in the audit trail (a refused read is audited and
  answered like a missing complaint, 404, so ids cannot be probed).
* The workflow is ``received → investigating → answered → closed``; an open complaint (received or investigating) may
  also be closed with a reason (duplicate, withdrawn, harassment). Only team leads and managers move it; the patient
  may withdraw their own open complaint. Every move is one conditional update (the expected status in the filter), so
  two people acting at once cannot both succeed, and is appended to the complaint's ``history`` together with the
  events it causes, in one transaction.
* Deadlines (医疗机构投诉管理办法): acknowledged (investigating) within 1 day, answered within 5 days of filing. The
  regulation counts 5 *working* days for complex complaints; Wenzhen counts calendar days, which is never later than
  the regulation. A complaint past its answer deadline is escalated once to managers (level 1) and, two days later,
  once to hospital management (level 2) by ``usecases.escalate_overdue``, which complaints' own loop runs
  (``entrypoints.ComplaintDeadlines``, one intake process at a time by lease; safe from several processes at once).
* Who reads: the account that filed it and the accounts acting for its patient (intake's live links, asked through
  ``patients.usecases.PatientAccess``), team leads and managers (complaint handling is management work). Consultants
  log phone complaints but do not read the queue; a complaint about a consultation keeps the consultation id so its
  handlers can open the transcript.
"""
