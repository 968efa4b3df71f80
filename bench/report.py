"""The figures: one JSON object per line on stdout, all of them in bench/results/latest.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def say(text: str) -> None:
    """Progress for people, on stderr (stdout carries only the JSON lines)."""
    print(f"  • {text}", file=sys.stderr, flush=True)


class Report:
    def __init__(self, out: TextIO = sys.stdout):
        self.out = out
        self.records: list[dict[str, Any]] = []

    def add(self, bench: str, value: float, unit: str, **extra: Any) -> float:
        record = {"bench": bench, "value": _round(value), "unit": unit,
                  **{k: _round(v) if isinstance(v, float) else v for k, v in extra.items()}}
        self.records.append(record)
        print(json.dumps(record, ensure_ascii=False), file=self.out, flush=True)
        return value

    def save(self, path: Path = RESULTS) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.records, ensure_ascii=False, indent=2) + "\n")
        return path


def _round(value: float) -> float:
    return round(value, 3) if abs(value) < 100 else round(value, 1)
