"""What a file is, by its first bytes (not by what the client claims: a PDF named ``x.jpg`` is a PDF, an executable
is refused), how large each kind may be, and a name safe to show and to put in a Content-Disposition. Shared by the
files a consultation's chat takes (intake) and a clinical record's attachments (records)."""
from __future__ import annotations

import re

from wenzhen.errors import InvalidInput, field_error

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


def check(data: bytes, max_bytes: int, kinds: tuple[str, ...] = tuple(LIMITS)) -> tuple[str, str]:
    """(content type, kind) of an accepted file of one of ``kinds``, at most ``max_bytes`` and its kind's limit."""
    if not data:
        raise InvalidInput("The file is empty.", [field_error("file", "is empty")])
    content_type, kind = sniff(data)
    if kind not in kinds:
        raise InvalidInput(f"A {kind} is not accepted here.", [field_error("file", f"send a {' or '.join(kinds)}")])
    limit = min(LIMITS[kind], max_bytes)
    if len(data) > limit:
        raise InvalidInput("The file is too large.", [field_error("file", f"a {kind} may be at most {limit} bytes")])
    return content_type, kind
