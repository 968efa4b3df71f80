"""The README's configuration table is the one list of settings a deployer reads: every environment variable any
settings class reads (the mechanics' and each service's own) is in it, with its default."""
import importlib
import re
from pathlib import Path

from wenzhen.config import SERVICES, EnvSettings, Settings

ROOT = Path(__file__).resolve().parents[2]


def settings_classes() -> list[type[EnvSettings]]:
    found = [Settings]
    for name in SERVICES:
        if (ROOT / "services" / name / "settings.py").exists():
            module = importlib.import_module(f"services.{name}.settings")
            found += [obj for obj in vars(module).values() if isinstance(obj, type) and issubclass(obj, EnvSettings)
                      and obj is not EnvSettings and obj.__module__ == module.__name__]
    return found


def documented() -> set[str]:
    table = ROOT.joinpath("README.md").read_text()
    return {name for row in re.findall(r"^\| (`[A-Z0-9_]+`.*?) \|", table, re.M)
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split(" | ")[0])}


def test_every_setting_is_in_the_readme_table():
    read = {var for cls in settings_classes() for var in cls.variables()}
    missing = sorted(read - documented())
    assert not missing, f"add these settings to the README's configuration table: {missing}"


def test_no_setting_is_read_twice():
    seen: dict[str, str] = {}
    for cls in settings_classes():
        for var in cls.variables():
            assert var not in seen, f"{var} is read by {seen[var]} and {cls.__qualname__}: one place for each setting"
            seen[var] = cls.__qualname__
