"""The deployment files follow the code, and give each process only the secrets it needs."""
from __future__ import annotations

import yaml

from deploy import manifests
from deploy.stack import PROCESS_SECRETS, SIGNING_SECRETS, secrets_for
from wenzhen.config import SERVICES


def test_the_committed_deployment_files_are_what_the_code_generates():
    assert manifests.stale() == [], "run `python -m deploy.manifests` and commit the result"


def test_only_identity_can_sign_tokens_and_the_gateway_holds_no_data_key():
    assert set(secrets_for("gateway")) == {"WENZHEN_JWT_PUBLIC_KEYS"}
    assert set(SIGNING_SECRETS) <= set(secrets_for("identity"))
    for name in SERVICES:
        granted = set(secrets_for(name))
        assert "WENZHEN_DATA_KEYS" in granted and "WENZHEN_AUDIT_KEY" in granted
        assert name == "identity" or not granted & set(SIGNING_SECRETS)
    assert secrets_for("topology") == () and secrets_for("secantusdb") == ()
    assert set(PROCESS_SECRETS) == {v for group in manifests.SECRET_GROUPS.values() for v in group}
    assert [n for n in SERVICES if "COURIER_CHECK_WORD" in secrets_for(n)] == ["pharmacy"]


def test_every_service_has_a_deployment_with_its_secrets_only():
    deployments = {d["metadata"]["name"]: d for d in yaml.safe_load_all(manifests.k8s_services())}
    assert set(deployments) == set(SERVICES)
    refs = {name: {e["secretRef"]["name"] for e in d["spec"]["template"]["spec"]["containers"][0]["envFrom"]
                   if "secretRef" in e} for name, d in deployments.items()}
    assert refs["identity"] == {"wenzhen-broker", "wenzhen-database", "wenzhen-data-keys", "wenzhen-token-signing"}
    assert refs["pharmacy"] == {"wenzhen-broker", "wenzhen-database", "wenzhen-data-keys", "wenzhen-courier"}
    assert all(refs[name] == {"wenzhen-broker", "wenzhen-database", "wenzhen-data-keys"}
               for name in SERVICES if name not in ("identity", "pharmacy"))
    gateway = next(yaml.safe_load_all(manifests.k8s_gateway()))
    assert {e["secretRef"]["name"] for e in gateway["spec"]["template"]["spec"]["containers"][0]["envFrom"]
            if "secretRef" in e} == {"wenzhen-broker", "wenzhen-token-verifying"}
    compose = yaml.safe_load(manifests.compose())["services"]
    assert set(SERVICES) | {"gateway", "topology", "rabbitmq", "mongo"} == set(compose)
    assert compose["gateway"]["env_file"] == ["secrets/token-verifying.env"]
    assert "MONGO_URI" not in compose["gateway"]["environment"]  # the gateway never touches a database
