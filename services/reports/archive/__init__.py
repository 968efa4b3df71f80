"""The archive: every event of every service, kept in ``event_log`` as it was published (envelopes: identifiers only),
the raw material of reports' read models; counts by type for managers; and the audit chains' checkpoints for admins
(kept here, outside the services' own databases, so a chain cut back and rewound in its database is noticed).

Invariants and what enforces them: each event is kept once, by an insert keyed by its id (``wenzhen.consumer.archives``:
a redelivery's insert is a duplicate key); the archive's queues are bound to ``#`` on every ``<service>.events``
exchange before anything publishes, so every published event is routable (the relays publish ``mandatory``).
"""
