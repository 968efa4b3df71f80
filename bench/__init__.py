"""Benchmarks with same-run baselines: ``make bench`` (``python -m bench``).

Starts an isolated stack (own RabbitMQ vhost, own SecantusDB, own ports), measures
the raw costs underneath the gateway (confirmed pika publishes, Nameko echo RPC,
a bare gunicorn hello app) and then the gateway itself, prints one JSON object
per figure on stdout and writes them all to ``bench/results/latest.json``.
Figures only: nothing here asserts on timing.
"""
import wenzhen  # noqa: F401 - first, for its warning filter (Nameko imports eventlet)
