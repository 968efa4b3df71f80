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

    def target(self, bench: str, value: float | None, unit: str, *, of: str, target: float, lower: bool = False,
               aim: float | None = None, **extra: Any) -> bool:
        """A figure with a target (a ratio ``of`` two named figures, a p99…), recorded with ``target`` and ``met`` and
        said as met / not met. Never asserted: a bench measures, it does not fail on timing."""
        met = value is not None and (value < target if lower else value >= target)
        sign = "<" if lower else "≥"
        self.add(bench, value if value is not None else float("nan"), unit, of=of, target=f"{sign} {target}",
                 met=met, **({"aim": aim} if aim is not None else {}), **extra)
        shown = "n/a" if value is None else f"{value:.3g}"
        say(f"{bench} = {shown} {unit} ({of}); target {sign} {target}{f', aim {aim}' if aim else ''}: "
            f"{'met' if met else 'NOT met'}")
        return met

    def value(self, bench: str) -> float | None:
        """The value of a figure recorded earlier in this run (None if there is none)."""
        return next((r["value"] for r in reversed(self.records) if r["bench"] == bench), None)

    def save(self, path: Path = RESULTS) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.records, ensure_ascii=False, indent=2) + "\n")
        return path


def _round(value: float) -> float:
    if value != value:  # NaN (a figure that could not be measured): JSON has no NaN
        return None
    return round(value, 3) if abs(value) < 100 else round(value, 1)
