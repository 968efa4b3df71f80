"""A rule the code must keep (docs/secantusdb.md): no ``find_one_and_update``, which SecantusDB answers by scanning
the whole collection under its lock, on any path of the services or the mechanics. Use
``wenzhen.storage.update_and_read`` / ``find_and_modify`` (an indexed update by ``_id``, then a read)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def calls_of(name: str) -> list[str]:
    found = []
    for package in ("services", "wenzhen", "gateway", "contracts"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Attribute) and node.attr == name:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_nothing_calls_find_one_and_update():
    assert calls_of("find_one_and_update") == []


def test_the_check_finds_a_call_when_there_is_one(tmp_path):
    tree = ast.parse("db.x.find_one_and_update({}, {})")
    assert any(isinstance(n, ast.Attribute) and n.attr == "find_one_and_update" for n in ast.walk(tree))
