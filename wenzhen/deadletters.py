"""List and replay events parked by failing handlers.

    python -m wenzhen.deadletters list [--service notify] [--all]
    python -m wenzhen.deadletters replay <dead-letter id> [...]
    python -m wenzhen.deadletters replay --all [--service notify]

Replay publishes the original message straight to the handler's own queue
(default exchange, routing key = queue name), with publisher confirms, so
only the handler that failed sees it again; it then applies idempotently as
usual. The entry is marked ``replayed`` (and is parked again if it fails again).
"""
from __future__ import annotations

import argparse
import json
import sys

import pika
from pymongo.database import Database

from wenzhen.config import SERVICES, settings
from wenzhen.outbox import amqp_headers
from wenzhen.storage import DEAD_LETTERS, client
from wenzhen.timez import to_local_iso, utcnow


def databases(service: str | None) -> dict[str, Database]:
    cfg = settings()
    mongo = client(cfg.mongo_uri)
    return {name: mongo[cfg.database_name(name)] for name in ([service] if service else SERVICES)}


def list_parked(service: str | None = None, include_replayed: bool = False) -> list[dict]:
    query = {} if include_replayed else {"status": "parked"}
    rows = []
    for name, db in databases(service).items():
        for doc in db[DEAD_LETTERS].find(query).sort("parked_at", 1):
            rows.append({"id": doc["_id"], "service": name, "handler": doc["handler"], "event_id": doc["event_id"],
                         "event_type": doc.get("event_type"), "status": doc["status"], "attempts": doc["attempts"],
                         "replays": doc.get("replays", 0), "error": f"{doc['error_type']}: {doc['error'][:120]}",
                         "parked_at": to_local_iso(doc["parked_at"])})
    return rows


def replay(ids: list[str] | None = None, service: str | None = None, amqp_uri: str | None = None) -> list[str]:
    """Replay the given dead letters (or every parked one); returns the ids replayed."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri or settings().amqp_uri))
    channel = connection.channel()
    channel.confirm_delivery()
    done = []
    try:
        for _name, db in databases(service).items():
            query = {"status": "parked"} if ids is None else {"_id": {"$in": ids}}
            for doc in db[DEAD_LETTERS].find(query):
                body = doc["body"]
                channel.basic_publish(
                    "", doc["queue"], json.dumps(body).encode(),
                    pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                         delivery_mode=2, message_id=str(doc["event_id"]),
                                         headers=amqp_headers(body) if isinstance(body, dict) else {}),
                    mandatory=True,
                )
                db[DEAD_LETTERS].update_one({"_id": doc["_id"]},
                                            {"$set": {"status": "replayed", "replayed_at": utcnow()},
                                             "$inc": {"replays": 1}})
                done.append(doc["_id"])
    finally:
        connection.close()
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wenzhen.deadletters", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list parked events")
    ls.add_argument("--service", choices=SERVICES)
    ls.add_argument("--all", action="store_true", help="include replayed entries")
    rp = sub.add_parser("replay", help="replay parked events to their handler")
    rp.add_argument("ids", nargs="*")
    rp.add_argument("--all", action="store_true", help="every parked event")
    rp.add_argument("--service", choices=SERVICES)
    args = parser.parse_args(argv)
    if args.command == "list":
        rows = list_parked(args.service, args.all)
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        print(f"{len(rows)} dead letter(s)", file=sys.stderr)
        return 0
    if not args.ids and not args.all:
        parser.error("name dead-letter ids or --all")
    done = replay(None if args.all else args.ids, args.service)
    print(f"replayed {len(done)}: {' '.join(done)}" if done else "nothing to replay")
    return 0


if __name__ == "__main__":
    sys.exit(main())
