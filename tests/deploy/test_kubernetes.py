"""deploy/k8s: every overlay renders with kustomize, every object validates against
the Kubernetes schema, and the manifests say what DESIGN.md promises: probes, limits,
a locked-down security context, headless gRPC Services, the token HPA, network
policies along the call graph, migrations in an initContainer of each service (no
Jobs to delete before an upgrade), and only environment names the processes read."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

from common.settings import ServiceSettings
from gateway.settings import GatewaySettings
from services.clients.settings import ClientsSettings
from services.token.settings import TokenSettings
from tests.deploy.support import (
    ALL_INTERFACES,
    PLACEHOLDER_SECRETS,
    ROOT,
    load_with_env,
    settings_class,
    unknown_env_names,
)

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["dev", "prod"]
TARGETS = ["base", *(f"overlays/{name}" for name in OVERLAYS)]

# The oldest minor a cluster should run (native gRPC probes are GA since 1.27,
# unhealthyPodEvictionPolicy since 1.31) and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.31", kv_utils.major_minor(kubernetes_validate.latest_version()))

GRPC_SERVICES = {"authorize": 50051, "token": 50052, "clients": 50053, "admin": 50054}
PROCESSES = ["gateway", *GRPC_SERVICES]
METRICS_PORT = 9100

# Who calls whom over gRPC (DESIGN.md and the code): callee -> callers.
CALLERS = {
    "authorize": {"gateway", "token", "admin"},
    "token": {"gateway", "admin"},
    "clients": {"gateway", "token", "authorize", "admin"},
    "admin": {"gateway", "authorize", "token", "clients"},
}

Manifest = dict[str, Any]


@functools.cache
def render(target: str) -> tuple[Manifest, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        # Nothing is silently skipped: say what to install, like the database fixtures do.
        pytest.fail("kubectl is needed to render the kustomizations: install kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {target}:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[Manifest, ...], kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod_templates(docs: tuple[Manifest, ...]) -> Iterator[tuple[str, Manifest]]:
    for doc in docs:
        if doc["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]


def all_containers(pod: Manifest) -> list[Manifest]:
    """The init containers (migrations) and the containers: each is checked alike."""
    return [*pod.get("initContainers", []), *pod["containers"]]


def example_secrets() -> dict[str, set[str]]:
    docs = yaml.safe_load_all((K8S / "secret.example.yaml").read_text())
    return {doc["metadata"]["name"]: set(doc["stringData"]) for doc in docs if doc}


def container_env(container: Manifest, configmaps: dict[str, Manifest]) -> dict[str, str]:
    """The environment a container starts with; secrets as placeholders."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{container['name']}: envFrom only from ConfigMaps"
        name = source["configMapRef"]["name"]
        assert name in configmaps, f"{container['name']}: no ConfigMap {name}"
        prefix = source.get("prefix", "")
        env.update({prefix + key: value for key, value in configmaps[name]["data"].items()})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            assert "secretKeyRef" in item["valueFrom"], f"{item['name']}: unexpected source"
            assert item["name"] in PLACEHOLDER_SECRETS, f"no placeholder for {item['name']}"
            env[item["name"]] = PLACEHOLDER_SECRETS[item["name"]]
    return env


def port_of(container: Manifest, name: str) -> int:
    ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
    assert name in ports, f"{container['name']}: no port named {name}"
    return int(ports[name])


@pytest.mark.parametrize("target", TARGETS)
def test_renders_and_every_object_validates_against_the_kubernetes_schema(target: str) -> None:
    docs = render(target)
    assert docs
    for version in K8S_VERSIONS:
        for doc in docs:
            name = f"{doc['kind']}/{doc['metadata']['name']}"
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(part) for part in exc.path)
                pytest.fail(f"{target} {name} (Kubernetes {version}): {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                pytest.fail(f"{target} {name}: {exc.message}")


def test_schema_validation_catches_a_mistake() -> None:
    """The check above is not vacuous: a misspelt field fails it."""
    deployment = of_kind(render("overlays/prod"), "Deployment")["token"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grcp"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_deployment_service_account_and_config_map_per_process(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    deployments = of_kind(docs, "Deployment")
    accounts = of_kind(docs, "ServiceAccount")
    configmaps = of_kind(docs, "ConfigMap")
    assert set(deployments) == set(PROCESSES)
    # One Service per process, and the gateway's admin listener apart (never in the Ingress).
    assert set(of_kind(docs, "Service")) == {*PROCESSES, "gateway-admin"}
    assert set(of_kind(docs, "PodDisruptionBudget")) == set(PROCESSES)
    assert set(PROCESSES) <= set(accounts)
    for account in accounts.values():
        assert account["automountServiceAccountToken"] is False
    for name, template in pod_templates(docs):
        spec = template["spec"]
        assert spec["serviceAccountName"] in accounts, name
        assert spec["automountServiceAccountToken"] is False, name
    generated = {cm["metadata"]["name"].rsplit("-", 1)[0] for cm in configmaps.values()}
    assert {f"{process}-config" for process in PROCESSES} | {"oauth2-common"} <= generated


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_non_root_read_only_and_without_capabilities(overlay: str) -> None:
    for name, template in pod_templates(render(f"overlays/{overlay}")):
        spec = template["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] > 0, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for container in all_containers(spec):
            ctx = container["securityContext"]
            assert ctx["runAsNonRoot"] is True, name
            assert ctx.get("runAsUser", pod["runAsUser"]) > 0, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx.get("privileged", False) is False, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert not ctx["capabilities"].get("add"), name
            # The one writable place: an emptyDir at /tmp.
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], name
            resources = container["resources"]
            for kind in ("cpu", "memory"):
                assert kind in resources["requests"], f"{name}: no {kind} request"
                assert kind in resources["limits"], f"{name}: no {kind} limit"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_have_probes_grpc_services_native_grpc_ones(overlay: str) -> None:
    deployments = of_kind(render(f"overlays/{overlay}"), "Deployment")
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        for probe in ("readinessProbe", "livenessProbe"):
            assert probe in container, f"{name}: no {probe}"
        if name in GRPC_SERVICES:
            grpc_port = port_of(container, "grpc")
            assert grpc_port == GRPC_SERVICES[name]
            # The mTLS port wants a client certificate, which the kubelet has not:
            # the probes use the plaintext health-only port.
            health_port = port_of(container, "grpc-health")
            assert health_port != grpc_port
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["grpc"]["port"] == health_port, f"{name} {probe}"
            assert port_of(container, "metrics") == METRICS_PORT
        else:
            assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
            assert container["livenessProbe"]["httpGet"]["path"] == "/health"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_headless_for_grpc_and_selecting_their_pods(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    deployments = of_kind(docs, "Deployment")
    for name, service in of_kind(docs, "Service").items():
        spec = service["spec"]
        if name in GRPC_SERVICES:
            assert spec["clusterIP"] == "None", f"{name}: gRPC Services must be headless"
            assert {p["port"] for p in spec["ports"]} == {GRPC_SERVICES[name], METRICS_PORT}
        else:
            assert spec.get("clusterIP") != "None"
            assert spec.get("type", "ClusterIP") == "ClusterIP"
        app = "gateway" if name == "gateway-admin" else name
        labels = deployments[app]["spec"]["template"]["metadata"]["labels"]
        assert spec["selector"].items() <= labels.items(), name
    for name, pdb in of_kind(docs, "PodDisruptionBudget").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_migrates_in_an_init_container_before_it_starts(overlay: str) -> None:
    """A new image's pods migrate before they serve, the old ones serving meanwhile:
    nothing immutable (a Job) to delete before applying the next release."""
    docs = render(f"overlays/{overlay}")
    assert not of_kind(docs, "Job"), "migrations are initContainers now, not Jobs"
    deployments = of_kind(docs, "Deployment")
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        if name not in GRPC_SERVICES:
            assert not pod.get("initContainers"), f"{name} has no database to migrate"
            continue
        (migrate,) = pod["initContainers"]
        (service,) = pod["containers"]
        assert migrate["command"] == ["python", "-m", f"services.{name}", "migrate"], name
        # The same release as the service it prepares, whatever the overlay pins.
        assert migrate["image"] == service["image"], name
        assert migrate.get("imagePullPolicy") == service.get("imagePullPolicy"), name
        # The same database credentials as the service (its role owns its schema).
        database = {e["name"]: e for e in migrate["env"]}["DATABASE_URL"]
        assert database in service["env"], f"{name}: migrates another database than it uses"
        # The old pods keep serving until the new ones are Ready.
        strategy = deployment["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate", name
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, name
    # A ServiceAccount nothing uses is an identity to audit for nothing.
    used = {template["spec"]["serviceAccountName"] for _, template in pod_templates(docs)}
    assert set(of_kind(docs, "ServiceAccount")) == used


def test_prod_autoscales_the_token_service_and_the_gateway() -> None:
    docs = render("overlays/prod")
    deployments = of_kind(docs, "Deployment")
    targets = {}
    for hpa in of_kind(docs, "HorizontalPodAutoscaler").values():
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
        assert ref["name"] in deployments
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        targets[ref["name"]] = hpa
        # The HPA owns the count: a replicas field would fight it on every apply.
        assert "replicas" not in deployments[ref["name"]]["spec"]
    assert set(targets) == {"token", "gateway"}
    for name, deployment in deployments.items():
        if name not in targets:
            assert deployment["spec"]["replicas"] >= 2, f"{name}: one replica in prod"


def test_dev_runs_one_replica_of_everything() -> None:
    docs = render("overlays/dev")
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    for name, deployment in of_kind(docs, "Deployment").items():
        assert deployment["spec"]["replicas"] == 1, name
        for container in all_containers(deployment["spec"]["template"]["spec"]):
            assert container["image"] == "oauth2-server:dev", name
            assert container["imagePullPolicy"] == "IfNotPresent", name


def test_prod_pins_its_image() -> None:
    for name, template in pod_templates(render("overlays/prod")):
        for container in all_containers(template["spec"]):
            image = container["image"]
            assert "@sha256:" in image or ":" in image.rsplit("/", 1)[-1], f"{name}: {image}"
            assert not image.endswith((":latest", ":dev")), f"{name}: {image} is not pinned"


@pytest.mark.parametrize("target", TARGETS)
def test_token_and_clients_have_key_encryption_keys_of_their_own(target: str) -> None:
    """The token service's KEK encrypts signing keys, the clients service's the
    secrets of client_secret_jwt clients: neither process holds the other's."""
    secrets: dict[str, str] = {}
    for _, template in pod_templates(render(target)):
        for container in template["spec"]["containers"]:
            for item in container.get("env", []):
                if item["name"] == "OAUTH2_KEY_ENCRYPTION_KEY":
                    secrets[container["command"][2]] = item["valueFrom"]["secretKeyRef"]["name"]
    assert secrets == {
        "services.token": "oauth2-token-kek",
        "services.clients": "oauth2-clients-kek",
    }


@pytest.mark.parametrize("target", TARGETS)
def test_every_env_var_is_a_setting_of_the_process_and_validates(target: str) -> None:
    docs = render(target)
    configmaps = of_kind(docs, "ConfigMap")
    secrets = example_secrets()
    for name, template in pod_templates(docs):
        for container in all_containers(template["spec"]):
            cls = settings_class(container["command"])
            env = container_env(container, configmaps)
            unknown = unknown_env_names(cls, env)
            assert not unknown, f"{name}: {cls.__name__} reads no {unknown}"
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets.get(ref["name"], set()), (
                        f"{name}: {ref} is not in deploy/k8s/secret.example.yaml"
                    )
            settings = load_with_env(cls, env)
            if container["command"][-1] == "migrate":
                assert settings.database_url, f"{name}: migrations need DATABASE_URL"
                continue
            # Replicas share state: never the embedded stand-ins in a cluster.
            assert settings.redis_url, f"{name}: no REDIS_URL"
            if isinstance(settings, GatewaySettings):
                assert settings.host == ALL_INTERFACES, name
                assert settings.port == port_of(container, "http"), name
                assert settings.admin_host == ALL_INTERFACES, name
                assert settings.admin_port == port_of(container, "admin"), name
            else:
                assert isinstance(settings, ServiceSettings), name
                assert settings.database_url, f"{name}: no DATABASE_URL"
                assert settings.grpc_host == ALL_INTERFACES, name
                assert settings.grpc_port == port_of(container, "grpc"), (
                    f"{name}: OAUTH2_GRPC_PORT is not the grpc containerPort"
                )
                assert settings.metrics_port == port_of(container, "metrics"), (
                    f"{name}: OAUTH2_METRICS_PORT is not the metrics containerPort"
                )
                assert settings.grpc_health_port == port_of(container, "grpc-health"), (
                    f"{name}: OAUTH2_GRPC_HEALTH_PORT is not the grpc-health containerPort"
                )
            if isinstance(settings, TokenSettings | ClientsSettings):
                assert settings.key_encryption_key is not None, name
            for process, port in GRPC_SERVICES.items():
                target_setting = getattr(settings, f"{process}_target")
                assert target_setting.startswith(f"dns:///{process}"), target_setting
                assert target_setting.endswith(f":{port}"), target_setting


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_traces_go_to_the_collector(overlay: str) -> None:
    configmaps = of_kind(render(f"overlays/{overlay}"), "ConfigMap")
    (common,) = [cm for name, cm in configmaps.items() if name.startswith("oauth2-common-")]
    endpoint = common["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert endpoint.startswith("http://jaeger-collector.observability")
    assert endpoint.endswith(":4317")


def _selected_apps(selector: Manifest, deployments: dict[str, Manifest]) -> set[str]:
    """The Deployments (by name) whose pods a NetworkPolicy label selector picks."""
    picked = set()
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if not selector.get("matchLabels", {}).items() <= labels.items():
            continue
        ok = True
        for expr in selector.get("matchExpressions", []):
            assert expr["operator"] == "In", expr
            ok = ok and labels.get(expr["key"]) in expr["values"]
        if ok:
            picked.add(name)
    return picked


def test_prod_network_policies_follow_the_call_graph() -> None:
    docs = render("overlays/prod")
    deployments = of_kind(docs, "Deployment")
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny

    # (destination app, port) -> source apps in the namespace / source namespaces.
    from_pods: dict[tuple[str, int], set[str]] = {}
    from_namespaces: dict[tuple[str, int], set[str]] = {}
    for policy in policies.values():
        spec = policy["spec"]
        for app in _selected_apps(spec["podSelector"], deployments):
            for rule in spec.get("ingress", []):
                for port in rule["ports"]:
                    key = (app, port["port"])
                    for peer in rule["from"]:
                        if "namespaceSelector" in peer:
                            namespace = peer["namespaceSelector"]["matchLabels"]
                            from_namespaces.setdefault(key, set()).add(
                                namespace["kubernetes.io/metadata.name"]
                            )
                        else:
                            sources = _selected_apps(peer["podSelector"], deployments)
                            from_pods.setdefault(key, set()).update(sources)
    for service, port in GRPC_SERVICES.items():
        assert from_pods.get((service, port)) == CALLERS[service], service
        # Only Prometheus reaches a service from outside the namespace, on metrics.
        assert from_namespaces.get((service, port)) is None, service
        assert from_namespaces.get((service, METRICS_PORT)) == {"monitoring"}
    # The gateway is the one process reachable from outside: from the ingress controller.
    assert "ingress-nginx" in from_namespaces[("gateway", 8080)]
    assert ("gateway", 8080) not in from_pods
    # Its admin listener only from Prometheus (operators port-forward), never the ingress.
    assert from_namespaces[("gateway", 8081)] == {"monitoring"}
    assert ("gateway", 8081) not in from_pods

    # Egress mirrors ingress, so that default deny on both sides lets the calls through.
    egress: dict[str, set[tuple[str, int]]] = {}
    for policy in policies.values():
        spec = policy["spec"]
        for app in _selected_apps(spec["podSelector"], deployments):
            for rule in spec.get("egress", []):
                for peer in rule.get("to", []):
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        for dest in _selected_apps(peer["podSelector"], deployments):
                            egress.setdefault(app, set()).update(
                                (dest, port["port"]) for port in rule["ports"]
                            )
    for service, callers in CALLERS.items():
        for caller in callers:
            assert (service, GRPC_SERVICES[service]) in egress.get(caller, set()), (
                f"{caller} may not call {service}"
            )

    # The database only from the services (and their migrate initContainers), never
    # the gateway.
    database = [
        policy["spec"]
        for policy in policies.values()
        for rule in policy["spec"].get("egress", [])
        if any(port["port"] == 5432 for port in rule["ports"])
    ]
    assert database
    for spec in database:
        assert _selected_apps(spec["podSelector"], deployments) == set(GRPC_SERVICES)


@pytest.mark.parametrize("target", TARGETS)
def test_the_ingress_exposes_only_the_public_port(target: str) -> None:
    docs = render(target)
    services = of_kind(docs, "Service")
    (deployment,) = [d for n, d in of_kind(docs, "Deployment").items() if n == "gateway"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    public = {p["name"]: p for p in services["gateway"]["spec"]["ports"]}
    assert set(public) == {"http"} and public["http"]["targetPort"] == "http"
    admin = services["gateway-admin"]["spec"]
    assert [p["targetPort"] for p in admin["ports"]] == ["admin"]
    assert admin.get("type", "ClusterIP") == "ClusterIP"
    backends = [
        path["backend"]["service"]
        for ingress in of_kind(docs, "Ingress").values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends and all(b == {"name": "gateway", "port": {"name": "http"}} for b in backends)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == port_of(container, "admin")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_presents_its_own_certificate_from_its_secret(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    configmaps = of_kind(docs, "ConfigMap")
    secrets = example_secrets()
    for name, deployment in of_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        secret = volumes["grpc-tls"]["secret"]
        # Its own Secret: the certificate's CN is the identity the allow-list checks.
        assert secret["secretName"] == f"oauth2-grpc-tls-{name}", name
        assert secret["secretName"] in secrets, f"{name}: not in secret.example.yaml"
        assert {"tls.crt", "tls.key", "ca.crt"} <= secrets[secret["secretName"]]
        assert secret["defaultMode"] & 0o007 == 0, f"{name}: key readable by others"
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "grpc-tls"]
        assert mount["readOnly"] is True
        settings = load_with_env(
            settings_class(container["command"]), container_env(container, configmaps)
        )
        base = mount["mountPath"]
        assert str(settings.grpc_tls_ca_file) == f"{base}/ca.crt", name
        assert str(settings.grpc_tls_cert_file) == f"{base}/tls.crt", name
        assert str(settings.grpc_tls_key_file) == f"{base}/tls.key", name
