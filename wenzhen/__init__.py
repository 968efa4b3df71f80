"""Wenzhen's shared library: cross-cutting mechanics only (no domain rules).

envelope and event registry, transactional outbox and relay, idempotent
consumers with dead letters, the MongoDB dependency, the pika RPC client,
configuration, logging, ids, time and error types.
"""
