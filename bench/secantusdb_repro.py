"""SecantusDB 0.7.0b3: ``findAndModify`` on an existing document by ``_id`` costs time in proportion to the collection,
and a retryable write in proportion to the writes of the last 30 minutes.

A standalone reproduction for the upstream report (docs/secantusdb.md). It needs only pymongo and a server:

    python bench/secantusdb_repro.py                      # starts secantusd-py on a free port in a temp dir
    python bench/secantusdb_repro.py mongodb://host:port/?replicaSet=rs0   # or MONGO_URI=… : an existing server

For each collection size (100 / 1,000 / 5,000 / 20,000 documents by default; ``--sizes``) it fills a fresh collection
with small documents and times, against documents picked at random by ``_id``:

* ``find_one_and_update({_id: x, free: {$gt: 0}}, {$inc: …})`` — findAndModify by ``_id`` with a condition,
* ``update_one`` with the same filter and update,
* ``find_one({_id: x})``, and ``find_one`` with the write's filter and with the ``$and`` form below,

and prints the median per call, and the ``explain`` of ``find`` with the filter the server's findAndModify writes
with, ``{_id: x, $and: [{_id: x, free: {$gt: 0}}]}`` (the plan the write path gets), next to that of the plain
``{_id: x, free: {$gt: 0}}``. Nothing else of Wenzhen is used.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pymongo import MongoClient, ReturnDocument

SIZES = (100, 1_000, 5_000, 20_000)
CALLS = 60  # timed calls per operation and size (fewer for the slow one on big collections: see _calls)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(uri: str | None) -> Iterator[str]:
    """``uri`` as it is, or a ``secantusd-py`` of our own on a free port with a temporary data directory."""
    if uri:
        yield uri
        return
    binary = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    data = tempfile.mkdtemp(prefix="secantus-repro-")
    port = _free_port()
    proc = subprocess.Popen([binary, "--storage-path", data, "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"mongodb://127.0.0.1:{port}/?replicaSet=secantus"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                MongoClient(uri, serverSelectionTimeoutMS=1000).admin.command("ping")
                break
            except Exception:  # noqa: BLE001 - not up yet
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{binary} did not start") from None
                time.sleep(0.3)
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


def _calls(size: int) -> int:
    return CALLS if size <= 5_000 else CALLS // 3


def _median_ms(fn, ids: list[str], calls: int) -> float:
    times = []
    for _ in range(calls):
        x = random.choice(ids)
        started = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _stage(plan: dict) -> str:
    """The winning plan's stages, outermost first (``FETCH > IXSCAN``), with the index name when there is one."""
    stages = []
    while plan:
        name = plan.get("stage", "?")
        if plan.get("indexName"):
            name += f"({plan['indexName']})"
        stages.append(name)
        plan = plan.get("inputStage") or {}
    return " > ".join(stages)


def winning(coll, flt: dict) -> str:
    explained = coll.database.command("explain", {"find": coll.name, "filter": flt}, verbosity="queryPlanner")
    return _stage(explained["queryPlanner"]["winningPlan"])


def measure(uri: str, sizes: tuple[int, ...]) -> list[dict]:
    client = MongoClient(uri)
    db = client["secantus_repro"]
    rows = []
    try:
        for size in sizes:
            coll = db[f"slots_{size}"]
            coll.drop()
            ids = [f"slot-{n:06d}" for n in range(size)]
            for start in range(0, size, 1000):
                coll.insert_many([{"_id": i, "free": 1_000_000, "booked": 0, "status": "open"}
                                  for i in ids[start:start + 1000]])
            rows.append(_row(coll, ids, size))
            coll.drop()
    finally:
        client.drop_database("secantus_repro")
        client.close()
    return rows


COND = {"free": {"$gt": 0}}
INC = {"$inc": {"booked": 1, "free": -1}}


def _row(coll, ids: list[str], size: int) -> dict:
    calls = _calls(size)
    x0 = ids[0]
    return {
        "documents": size,
        "find_one_and_update_ms": _median_ms(lambda x: coll.find_one_and_update(
            {"_id": x, **COND}, INC, return_document=ReturnDocument.AFTER), ids, calls),
        "update_one_ms": _median_ms(lambda x: coll.update_one({"_id": x, **COND}, INC), ids, CALLS),
        "find_one_ms": _median_ms(lambda x: coll.find_one({"_id": x}), ids, CALLS),
        "find_one_cond_ms": _median_ms(lambda x: coll.find_one({"_id": x, **COND}), ids, CALLS),
        "find_one_and_ms": _median_ms(lambda x: coll.find_one({"_id": x, "$and": [{"_id": x, **COND}]}), ids,
                                      calls),
        "plan_findandmodify_filter": winning(coll, {"_id": x0, "$and": [{"_id": x0, **COND}]}),
        "plan_plain_filter": winning(coll, {"_id": x0, **COND}),
        "plan_id_only": winning(coll, {"_id": x0}),
    }


def version(uri: str) -> str:
    with MongoClient(uri) as client:
        info = client.admin.command("buildInfo")
    return f"{info.get('version', '?')} ({info.get('gitVersion', '')[:12] or 'no gitVersion'})"


def table(rows: list[dict]) -> str:
    head = (f"{'documents':>9}  {'findAndModify by _id':>20}  {'update_one same filter':>22}  {'find_one by _id':>15}"
            f"  {'find_one {_id, free}':>20}  {'find_one {_id, $and}':>20}  plan of {{_id, $and:[…]}} / {{_id, free}}"
            " / {_id}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['documents']:>9,}  {r['find_one_and_update_ms']:>17.2f} ms  {r['update_one_ms']:>19.2f} ms"
                     f"  {r['find_one_ms']:>12.2f} ms  {r['find_one_cond_ms']:>17.2f} ms"
                     f"  {r['find_one_and_ms']:>17.2f} ms"
                     f"  {r['plan_findandmodify_filter']} / {r['plan_plain_filter']}"
                     f" / {r['plan_id_only']}")
    return "\n".join(lines)


def _insert_rate(collection, calls: int) -> float:
    started = time.perf_counter()
    for i in range(calls):
        collection.insert_one({"i": i})
    return calls / (time.perf_counter() - started)


def retryable_writes(uri: str, history: int = 11_000, calls: int = 300) -> str:
    """The second defect: each retryable write (a write outside a transaction with ``retryWrites=true``, pymongo's
    default) stores its reply, and every write scans all stored replies (up to 10,000, for 30 minutes) and sorts them
    once there are 10,000: single inserts per second before and after ``history`` earlier writes."""
    lines = ["", f"single insert_one, per second, before and after {history:,} earlier writes (one client thread):",
             "| retryWrites | before | after |", "|---|---:|---:|"]
    for flag in ("true", "false"):
        joined = f"{uri}{'&' if '?' in uri else '?'}retryWrites={flag}"
        collection = MongoClient(joined)["secantus_repro"][f"retryable_{flag}"]
        collection.drop()

        before = _insert_rate(collection, calls)
        for i in range(history):
            collection.insert_one({"i": i})
        lines.append(f"| {flag} | {before:,.0f} | {_insert_rate(collection, calls):,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uri", nargs="?", default=os.environ.get("MONGO_URI") or None,
                        help="a server to use (default: MONGO_URI, else a secantusd-py of our own)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="collection sizes, comma-separated")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    with server(args.uri) as uri:
        print(f"server: {version(uri)} at {uri.split('@')[-1]}; median of {CALLS} calls "
              f"({CALLS // 3} for findAndModify above 5,000 documents), one client thread", flush=True)
        print(table(measure(uri, sizes)))
        print(retryable_writes(uri), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
