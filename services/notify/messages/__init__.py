"""Messages: from other services' facts to notifications (a welcome, a sign-up or reset code, a complaint
answered, booking's reminders and waitlist offers), and their sending by SMS after the commit.

Invariants and what enforces them: a notification is recorded in the transaction of the event that caused it (the
consumer's, so one event makes one message however often it is delivered) and sent at least once afterwards by the
dispatcher (queued → sent by a conditional update), in creation order; its address and text are encrypted at rest
(``store.py``); an SMS says when, which department and where, never a diagnosis or a note (``rules.py``); a relative's
record, whose number nobody confirmed, gets no message at all (remembered from ``patient_registered``); a patient
reads only the notifications of records their token lists, and every read and every message written is audited.
"""
