"""Published event schemas are a contract: the committed snapshots must match the code."""
import json

from deploy import catalogue


def test_every_published_schema_matches_its_snapshot():
    assert catalogue.check() == []


def test_a_changed_schema_is_reported_as_a_possible_breaking_change(tmp_path, monkeypatch):
    schemas = catalogue.current_schemas()
    for other, schema in schemas.items():
        (tmp_path / other).write_text(catalogue.dumps(schema))
    name, schema = next(iter(schemas.items()))
    changed = dict(schema, required=[*schema.get("required", []), "new_required_field"])
    (tmp_path / name).write_text(json.dumps(changed))
    monkeypatch.setattr(catalogue, "snapshot_dir", lambda: tmp_path)
    (problem,) = catalogue.check()
    assert name in problem and "_v2" in problem


def test_a_new_event_type_without_a_snapshot_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "snapshot_dir", lambda: tmp_path)
    assert all("no snapshot" in p for p in catalogue.check()) and catalogue.check()


def test_the_catalogue_names_every_subscriber():
    text = catalogue.markdown(catalogue.event_types(), catalogue.subscriptions())
    assert "notify.welcome_patient" in text and "reports.archive_intake" in text


def test_a_published_type_removed_from_the_code_is_reported(tmp_path, monkeypatch):
    for name, schema in catalogue.current_schemas().items():
        (tmp_path / name).write_text(catalogue.dumps(schema))
    (tmp_path / "intake.gone_event.v1.json").write_text("{}")
    monkeypatch.setattr(catalogue, "snapshot_dir", lambda: tmp_path)
    (problem,) = catalogue.check()
    assert "gone_event" in problem and "breaking" in problem
