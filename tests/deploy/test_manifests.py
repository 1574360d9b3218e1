"""Kubernetes (every overlay rendered by kubectl kustomize, every resource validated against
the Kubernetes 1.35 schemas), Istio, compose and the Dockerfile: they parse, what they refer
to exists, and the settings and commands they use are the application's."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.main import get_command

from imageboard.cli import app as cli_app
from imageboard.config import Settings
from imageboard.events.settings import EventSettings
from tests.deploy.conftest import DEPLOY, ROOT, require_tool

KUBERNETES_VERSION = "1.35.0"
OVERLAYS = ["single-node", "production"]
ROLES = {"web", "worker", "realtime", "all"}
SITE_SETTINGS = {f"IMAGEBOARD_{name.upper()}" for name in (*Settings.model_fields, *EventSettings.model_fields)}


def kustomize(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [require_tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, kustomize(DEPLOY / "k8s" / "overlays" / request.param)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_every_resource_is_valid_for_kubernetes_1_35(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    assert len(docs) >= 10
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert doc["metadata"]["namespace" if doc["kind"] != "Namespace" else "name"] == "imageboard"


def test_the_validator_rejects_what_it_should() -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "two", "selector": {}, "template": {"spec": {"containers": []}}, "replica": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_workloads_have_resources_probes_and_a_hardened_context(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    for name, deployment in by_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in _containers(deployment):
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), (name, container["name"])
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), (name, container["name"])
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
        main = pod["containers"][0]
        assert main["livenessProbe"]["httpGet"]["path"] in {"/healthz", "/nginx-health"}, name
        assert main["readinessProbe"]["httpGet"]["path"] in {"/readyz", "/nginx-health"}, name
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), name


def test_roles_commands_and_settings_are_the_applications(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, docs = rendered
    roles: set[str] = set()
    for deployment in [*by_kind(docs, "Deployment").values(), *by_kind(docs, "Job").values()]:
        for container in _containers(deployment):
            args = container.get("args")
            if container["image"].startswith("ghcr.io/example/imageboard:"):
                assert args and args[0] in {"serve", "migrate", "init"}, args
                if args[0] == "serve":
                    roles.add(args[args.index("--role") + 1])
    assert roles <= ROLES
    assert roles == ({"all"} if overlay == "single-node" else {"web", "worker", "realtime"})
    for config in [*by_kind(docs, "ConfigMap").values(), *by_kind(docs, "Secret").values()]:
        keys = set(config.get("data", {}))
        assert keys <= SITE_SETTINGS, f"{config['metadata']['name']}: unknown settings {sorted(keys - SITE_SETTINGS)}"
    env_names = {
        e["name"]
        for d in by_kind(docs, "Deployment").values()
        for c in _containers(d)
        for e in c.get("env", [])
        if e["name"].startswith("IMAGEBOARD_") and c["name"] != "nginx"
    }
    assert env_names <= SITE_SETTINGS, sorted(env_names - SITE_SETTINGS)


def test_autoscalers_budgets_services_and_policies_point_at_real_pods(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    overlay, docs = rendered
    deployments = by_kind(docs, "Deployment")
    pod_labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}

    def selects(selector: dict[str, str]) -> set[str]:
        return {name for name, labels in pod_labels.items() if selector.items() <= labels.items()}

    for hpa in by_kind(docs, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        assert hpa["spec"]["minReplicas"] >= 1
    for pdb in by_kind(docs, "PodDisruptionBudget").values():
        assert selects(pdb["spec"]["selector"]["matchLabels"]), pdb["metadata"]["name"]
    for service in by_kind(docs, "Service").values():
        assert selects(service["spec"]["selector"]), service["metadata"]["name"]
    policies = by_kind(docs, "NetworkPolicy")
    assert policies["default-deny"]["spec"]["podSelector"] == {}
    assert set(policies["default-deny"]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    if overlay == "production":
        assert set(by_kind(docs, "HorizontalPodAutoscaler")) == {"web", "worker", "realtime", "edge"}
        assert set(by_kind(docs, "PodDisruptionBudget")) == {"web", "worker", "realtime", "edge"}
        assert "migrate" in by_kind(docs, "Job")
        assert by_kind(docs, "Namespace")["imageboard"]["metadata"]["labels"]["istio-injection"] == "enabled"
    else:
        web = deployments["web"]
        assert web["spec"]["strategy"]["type"] == "Recreate"
        assert web["spec"]["replicas"] == 1
        claims = [v["persistentVolumeClaim"]["claimName"] for v in web["spec"]["template"]["spec"]["volumes"]
                  if "persistentVolumeClaim" in v]
        assert claims == list(by_kind(docs, "PersistentVolumeClaim"))
        assert "IMAGEBOARD_DATABASE_URL" not in next(iter(by_kind(docs, "Secret").values())).get("data", {})
        edge = deployments["edge"]["spec"]["template"]["spec"]["containers"][0]
        edge_env = {e["name"]: e.get("value") for e in edge["env"]}
        assert edge_env["IMAGEBOARD_REALTIME_UPSTREAM"] == "web:8080"


def test_istio_resources_have_their_required_fields_and_route_to_real_services() -> None:
    docs = kustomize(DEPLOY / "istio")
    services = by_kind(kustomize(DEPLOY / "k8s" / "overlays" / "production"), "Service")
    ports = {f"{name}.imageboard.svc.cluster.local": {p["port"] for p in s["spec"]["ports"]}
             for name, s in services.items()}
    kinds = {doc["kind"] for doc in docs}
    assert kinds == {"Gateway", "VirtualService", "DestinationRule", "PeerAuthentication"}
    for doc in docs:
        group = doc["apiVersion"].split("/")[0]
        assert group in {"networking.istio.io", "security.istio.io"}
        assert doc["metadata"]["name"] and doc["metadata"]["namespace"] == "imageboard"
    gateways = by_kind(docs, "Gateway")
    for gateway in gateways.values():
        assert gateway["spec"]["selector"]
        for server in gateway["spec"]["servers"]:
            assert {"number", "name", "protocol"} <= set(server["port"]) and server["hosts"]
            if server["port"]["protocol"] == "HTTPS":
                assert server["tls"]["mode"] in {"SIMPLE", "MUTUAL"} and server["tls"]["credentialName"]
    for service in by_kind(docs, "VirtualService").values():
        assert service["spec"]["hosts"]
        assert set(service["spec"]["gateways"]) <= set(gateways)
        routed = []
        for route in service["spec"]["http"]:
            assert ("route" in route) != ("directResponse" in route), route["name"]
            for destination in route.get("route", []):
                host, port = destination["destination"]["host"], destination["destination"]["port"]["number"]
                assert port in ports[host], (host, port)
                routed.append(host)
        assert "realtime.imageboard.svc.cluster.local" in routed and "edge.imageboard.svc.cluster.local" in routed
        streams = service["spec"]["http"][0]
        assert streams["timeout"] == "0s"
        regexes = [m["uri"]["regex"] for m in streams["match"] if "regex" in m["uri"]]
        assert any(re.fullmatch(regex, "/b/thread/123/events") for regex in regexes)
    for rule in by_kind(docs, "DestinationRule").values():
        assert rule["spec"]["host"] in ports
        assert rule["spec"]["trafficPolicy"]["tls"]["mode"] == "ISTIO_MUTUAL"
    (peer,) = by_kind(docs, "PeerAuthentication").values()
    assert peer["spec"]["mtls"]["mode"] == "STRICT"
    assert "selector" not in peer["spec"]  # namespace-wide


def test_podmonitor_selects_the_site_roles() -> None:
    monitor = yaml.safe_load((DEPLOY / "k8s" / "monitoring" / "podmonitor.yaml").read_text())
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "PodMonitor"
    assert monitor["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "imageboard"}


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_stack_is_complete_and_its_files_exist() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"web", "worker", "realtime", "migrate", "postgres", "redis", "nats", "minio", "edge", "prometheus",
            "grafana", "jaeger"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), name
            dockerfile = (context / build["dockerfile"]).read_text()
            assert re.search(rf"^FROM .+ AS {build['target']}$", dockerfile, re.M), (name, build["target"])
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)
        for dependency in service.get("depends_on", []):
            assert dependency in services, (name, dependency)
    # The Prometheus in compose finds the roles by their service names.
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    names = prometheus["scrape_configs"][0]["dns_sd_configs"][0]["names"]
    assert set(names) <= set(services)


def test_compose_settings_and_commands_are_the_applications() -> None:
    services = _compose()["services"]
    roles = set()
    for name in ("web", "worker", "realtime", "migrate"):
        service = services[name]
        environment = service["environment"]
        unknown = {key for key in environment if key.startswith("IMAGEBOARD_")} - SITE_SETTINGS
        assert not unknown, (name, sorted(unknown))
        command = service["command"]
        assert command[0] in {"serve", "init", "migrate"}
        if command[0] == "serve":
            roles.add(command[command.index("--role") + 1])
    assert roles == {"web", "worker", "realtime"}
    assert services["edge"]["environment"]["IMAGEBOARD_MAX_BODY_BYTES"] == services["web"]["environment"][
        "IMAGEBOARD_MAX_BODY_BYTES"]


def test_the_serve_command_takes_every_option_the_deploy_files_pass() -> None:
    serve = get_command(cli_app).commands["serve"]  # type: ignore[attr-defined]
    options = {opt for param in serve.params for opt in getattr(param, "opts", [])}
    used: set[str] = set()
    for doc in [doc for overlay in OVERLAYS for doc in kustomize(DEPLOY / "k8s" / "overlays" / overlay)]:
        if doc["kind"] == "Deployment":
            for container in _containers(doc):
                used |= {a for a in container.get("args", []) if a.startswith("--")}
    for service in _compose()["services"].values():
        command = service.get("command", [])
        if command and command[0] == "serve":
            used |= {a for a in command if a.startswith("--")}
    dockerfile_cmd = re.search(r'^CMD (\[.*\])$', (ROOT / "Dockerfile").read_text(), re.M)
    assert dockerfile_cmd
    used |= {a for a in yaml.safe_load(dockerfile_cmd.group(1)) if a.startswith("--")}
    assert used, "no serve options found"
    assert used <= options, f"'imageboard serve' lacks {sorted(used - options)}"


def test_dockerfile_is_multi_stage_slim_non_root_and_copies_what_exists() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\S+)$", text, re.M)
    assert [stage for _, stage in stages] == ["build", "edge", "runtime"]
    assert all("slim" in image or "alpine" in image for image, _ in stages)
    runtime = text.split("AS runtime", 1)[1]
    users = re.findall(r"^USER (\S+)$", runtime, re.M)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert re.search(r"^HEALTHCHECK .*", runtime, re.M) and "/healthz" in runtime
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M):
        *sources, _ = shlex.split(line)
        for source in sources:
            path = ROOT / source
            assert path.exists(), source
            assert not any(source.rstrip("/") == entry or source.startswith(entry + "/") for entry in ignored), source
    # The edge image's template variables all have defaults in the Dockerfile.
    edge = text.split("AS edge", 1)[1].split("AS runtime", 1)[0]
    needed = set()
    for template in (DEPLOY / "nginx" / "templates").glob("*.template"):
        needed |= set(re.findall(r"\$\{([A-Z_]+)\}", template.read_text()))
    defined = set(re.findall(r"\b([A-Z][A-Z_]+)=", edge))
    assert needed <= defined, sorted(needed - defined)
