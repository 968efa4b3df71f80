"""`make demo`: a scripted patient journey against the running system (``make run``)."""
from __future__ import annotations

import json
import random
import sys
import time
import urllib.error
import urllib.request

from wenzhen.config import settings


def call(method: str, url: str, body: dict | None = None, request_id: str | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if request_id:
        req.add_header("X-Request-ID", request_id)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def show(title: str, status: int, body) -> None:
    print(f"\n▶ {title}  →  HTTP {status}")
    print("  " + json.dumps(body, ensure_ascii=False, indent=2).replace("\n", "\n  "))


def main() -> int:
    cfg = settings()
    base = f"http://{cfg.gateway_host}:{cfg.gateway_port}"
    try:
        status, _, ready = call("GET", base + "/readyz")
    except OSError:
        print(f"Wenzhen is not running at {base}: start it with `make run` in another terminal.")
        return 1
    up = [n for n, c in ready["services"].items() if c["state"] == "up"]
    print(f"Wenzhen at {base}: {ready['status']} ({len(up)}/{len(ready['services'])} services up)")
    if status != 200:
        return 1

    request_id = f"demo-{int(time.time())}"
    phone = f"139{random.randint(0, 99_999_999):08d}"
    patient = {"name": "王小明", "sex": "male", "birth_date": "1988-06-15", "phone": phone}
    status, headers, body = call("POST", base + "/v1/patients", patient, request_id)
    show(f"Register a patient (X-Request-ID: {request_id})", status, body)
    if status != 201:
        return 1
    pid = body["id"]

    status, _, again = call("POST", base + "/v1/patients", patient)
    show("Register the same phone again", status, again)
    status, _, bad = call("POST", base + "/v1/patients", {"name": "", "sex": "m", "birth_date": "2999-01-01",
                                                          "phone": "12345"})
    show("Register with bad fields", status, bad)

    print("\n… intake committed the patient and its patient_registered event together; the outbox relay "
          "publishes it, notify reacts.")
    deadline = time.monotonic() + 15
    notes: list = []
    while time.monotonic() < deadline:
        status, _, notes = call("GET", f"{base}/v1/patients/{pid}/notifications")
        if notes:
            break
        time.sleep(0.2)
    show("The patient's notifications", status, notes)
    if not notes:
        print("no welcome notification arrived within 15 s: check var/log/notify.log and var/log/intake.log")
        return 1
    print(f"\nDone: patient {pid} registered; welcome {notes[0]['channel']} recorded "
          f"at {notes[0]['created_at']}. Grep var/log/ for {request_id} to follow the request across services.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
