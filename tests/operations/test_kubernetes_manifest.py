"""docs/kubernetes/deployment.yaml stays correct: every variable it sets is documented in README.md's
table, its values pass the production rules (`check_environment`), the probes, ports and server-wide
modules match what the addons serve."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from odoo_cloud.config import load_settings
from odoo_cloud.environments import check_environment

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the manifest (pip install pyyaml)")

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "docs" / "kubernetes" / "deployment.yaml"
#: a variable name in backquotes, in the first column of README's variable table
_VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def documented_variables() -> set[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Environment variables")
    names = set()
    for line in text[start:].splitlines()[1:]:
        if line.startswith("## "):
            break
        if line.startswith("| `"):
            names.update(_VARIABLE.findall(line.split("|")[1]))
    return names


@pytest.fixture(scope="module")
def manifest():
    documents = [doc for doc in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if doc]
    return {doc["kind"]: doc for doc in documents}


def pod(manifest):
    return manifest["Deployment"]["spec"]["template"]["spec"]


def environment(manifest, container) -> dict[str, str]:
    """What the container sees: the ConfigMaps it loads, then its own env (secrets as placeholders)."""
    configmaps = {manifest["ConfigMap"]["metadata"]["name"]: manifest["ConfigMap"]["data"]}
    values = {}
    for source in container.get("envFrom", []):
        values.update(configmaps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        values[item["name"]] = item.get("value", f"secret-{item['name'].lower()}")
    return values


def test_the_readme_table_is_read():
    names = documented_variables()
    assert {"AWS_BUCKETNAME", "ODOO_SESSION_REDIS_TIMEOUT", "ODOO_READINESS_TIMEOUT", "ODOO_PROMETHEUS_PORT",
            "PROMETHEUS_MULTIPROC_DIR", "SWIFT_TENANT_NAME"} <= names


def test_every_variable_set_is_documented(manifest):
    documented = documented_variables()
    containers = pod(manifest)["initContainers"] + pod(manifest)["containers"]
    used = set(manifest["ConfigMap"]["data"])
    for container in containers:
        used.update(item["name"] for item in container.get("env", []))
    assert used - documented == set()


def test_secrets_come_from_secrets(manifest):
    for container in pod(manifest)["initContainers"] + pod(manifest)["containers"]:
        for item in container.get("env", []):
            if re.search(r"SECRET|PASSWORD|KEY_ID", item["name"]):
                assert "secretKeyRef" in item.get("valueFrom", {}), item
    assert not [name for name in manifest["ConfigMap"]["data"] if re.search(r"SECRET|PASSWORD", name)]


def test_the_values_pass_the_production_rules(manifest):
    container = pod(manifest)["containers"][0]
    environ = environment(manifest, container)
    load_settings(environ)  # every value well-formed
    report = check_environment("prod", environ)
    assert report.running_env == "prod" and not report.problems, report.problems
    init = pod(manifest)["initContainers"][0]
    assert environment(manifest, init) == environ
    assert init["command"][:5] == ["odoo-cloud", "check", "--env", "prod", "--connect"]


def test_probes_ports_and_modules_match_the_addons(manifest):
    container = pod(manifest)["containers"][0]
    environ = environment(manifest, container)
    settings = load_settings(environ)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/web/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/web/health/ready", "port": "http"}
    # a hung dependency answers after ODOO_READINESS_TIMEOUT (+ a client build): the probe must wait longer
    assert container["readinessProbe"]["timeoutSeconds"] >= settings.readiness.timeout + 1
    assert settings.prometheus.enabled and ports["metrics"] == settings.prometheus.port
    assert ports["http"] != ports["metrics"]
    annotations = manifest["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.prometheus.port)
    load = next(arg for arg in container["args"] if arg.startswith("--load="))
    modules = load.split("=", 1)[1].split(",")
    assert {"base", "web", "session_redis", "monitoring_readiness", "monitoring_prometheus"} <= set(modules)
    for module in modules[2:]:
        assert (REPO / module / "__manifest__.py").is_file(), module
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volume = mounts[settings.prometheus.multiproc_dir]
    assert "emptyDir" in next(v for v in pod(manifest)["volumes"] if v["name"] == volume)
