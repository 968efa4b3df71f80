"""Photos, short videos and documents shared in a consultation.

The type is decided by the file's first bytes, not by what the client claims (a PDF named ``x.jpg`` is a PDF, an
executable is refused). Files are encrypted with the data key (AES-256-GCM, bound to the consultation) and kept
in intake's database through GridFS, so a MongoDB replica set is all the storage a deployment needs; a bucket
behind the same two functions (:func:`put`, :func:`read`) would be an object store.
"""
from __future__ import annotations

import re

import gridfs
from pymongo import ASCENDING

from wenzhen import ids
from wenzhen.crypto import Keyring
from wenzhen.errors import InvalidInput, NotFound, field_error
from wenzhen.storage import Index, Store
from wenzhen.timez import utcnow

ATTACHMENTS = "attachments"
BUCKET = "attachment_blobs"
INDEXES = [Index(ATTACHMENTS, [("consultation_id", ASCENDING)], name="by_consultation")]

MIB = 1024 * 1024
# kind -> (content type, largest size); the overall cap is ATTACHMENT_MAX_BYTES
LIMITS = {"image": 10 * MIB, "video": 20 * MIB, "file": 10 * MIB}
_SIGNATURES: list[tuple[str, str, object]] = [
    ("image/jpeg", "image", lambda b: b.startswith(b"\xff\xd8\xff")),
    ("image/png", "image", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ("image/gif", "image", lambda b: b[:6] in (b"GIF87a", b"GIF89a")),
    ("image/webp", "image", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
    ("image/heic", "image", lambda b: b[4:8] == b"ftyp" and b[8:12] in (b"heic", b"heix", b"mif1")),
    ("video/quicktime", "video", lambda b: b[4:8] == b"ftyp" and b[8:10] == b"qt"),
    ("video/mp4", "video", lambda b: b[4:8] == b"ftyp"),
    ("application/pdf", "file", lambda b: b.startswith(b"%PDF-")),
]
_NAME = re.compile(r"[^\w.\- ()\u4e00-\u9fff]")


def sniff(data: bytes) -> tuple[str, str]:
    """(content type, kind) from the first bytes; anything else is refused."""
    for content_type, kind, matches in _SIGNATURES:
        if matches(data[:16]):
            return content_type, kind
    raise InvalidInput("This kind of file is not accepted.", [field_error(
        "file", "send a photo (JPEG, PNG, GIF, WebP, HEIC), a short video (MP4, MOV) or a PDF document")])


def clean_name(name: str | None, content_type: str) -> str:
    base = _NAME.sub("_", (name or "").strip())[:80].strip(". ")
    return base or f"attachment.{content_type.split('/')[-1]}"


def check(data: bytes, max_bytes: int) -> tuple[str, str]:
    if not data:
        raise InvalidInput("The file is empty.", [field_error("file", "is empty")])
    content_type, kind = sniff(data)
    limit = min(LIMITS[kind], max_bytes)
    if len(data) > limit:
        raise InvalidInput("The file is too large.", [field_error("file", f"a {kind} may be at most {limit} bytes")])
    return content_type, kind


def put(store: Store, keys: Keyring, consultation_id: str, data: bytes, name: str | None,
        max_bytes: int) -> dict:
    """Store the file (encrypted); returns the attachment's metadata document (not yet part of a message)."""
    content_type, kind = check(data, max_bytes)
    attachment_id = ids.new_id("att")
    kid, blob = keys.encrypt_bytes(data, field="attachment", record=attachment_id)
    blob_id = gridfs.GridFSBucket(store.db, bucket_name=BUCKET).upload_from_stream(attachment_id, blob)
    doc = {"_id": attachment_id, "consultation_id": consultation_id, "name": clean_name(name, content_type),
           "content_type": content_type, "kind": kind, "size": len(data), "kid": kid, "blob_id": blob_id,
           "uploaded_at": utcnow()}
    store[ATTACHMENTS].insert_one(doc)
    return doc


def discard(store: Store, doc: dict) -> None:
    """Undo :func:`put` (the message that would have carried it was not stored)."""
    gridfs.GridFSBucket(store.db, bucket_name=BUCKET).delete(doc["blob_id"])
    store[ATTACHMENTS].delete_one({"_id": doc["_id"]})


def read(store: Store, keys: Keyring, consultation_id: str, attachment_id: str) -> tuple[dict, bytes]:
    doc = store[ATTACHMENTS].find_one({"_id": attachment_id, "consultation_id": consultation_id})
    if doc is None:
        raise NotFound(f"No attachment {attachment_id} in this consultation.")
    blob = gridfs.GridFSBucket(store.db, bucket_name=BUCKET).open_download_stream(doc["blob_id"]).read()
    return doc, keys.decrypt_bytes(doc["kid"], blob, field="attachment", record=attachment_id)


def summary(doc: dict) -> dict:
    return {"id": doc["_id"], "name": doc["name"], "content_type": doc["content_type"], "size": doc["size"]}
