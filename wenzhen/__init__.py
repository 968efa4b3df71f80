"""Wenzhen's shared library: cross-cutting mechanics only (no domain rules).

envelope and event registry, transactional outbox and relay, idempotent
consumers with dead letters, the MongoDB dependency, the pika RPC client,
configuration, logging, ids, time and error types.
"""

import warnings

# Nameko 3 runs on eventlet, which prints a deprecation banner on import; the
# choice is deliberate and recorded in docs/architecture.md.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
