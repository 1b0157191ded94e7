"""The Helm chart: lint, render every mode, validate strictly, and check what it promises."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.tools import (
    CHART,
    EXAMPLES,
    VENV_BIN,
    helm,
    of_kind,
    only,
    render,
    render_text,
    require_tool,
)

PRODUCTION = str(EXAMPLES / "helm" / "values-production.yaml")

ALL_OPTIONALS = {
    "metrics.serviceMonitor.enabled": "true",
    "prometheusRule.enabled": "true",
    "prometheusRule.serviceAlerts.enabled": "true",
    "podDisruptionBudget.enabled": "true",
    "networkPolicy.enabled": "true",
    "prometheus.url": "http://prometheus.monitoring:9090",
    "prometheus.tokenSecret.name": "prom-token",
    "prometheus.caSecret.name": "prom-ca",
    "dashboards.enabled": "true",
    "notifications.enabled": "true",
    "notifications.urlSecret.name": "notify-urls",
    "notifications.receivers[0].name": "on-call",
    "notifications.receivers[0].type": "slack",
    "notifications.receivers[0].urlKey": "slack",
    "notifications.receivers[0].events": "{RolledBack,Failed}",
    "notifications.receivers[1].name": "audit",
    "notifications.receivers[1].type": "webhook",
    "notifications.receivers[1].urlKey": "audit",
    "extraArgs": "{--prometheus-max-series=50}",
    "extraEnv[0].name": "TZ",
    "extraEnv[0].value": "UTC",
    "extraVolumes[0].name": "scratch",
    "extraVolumes[0].emptyDir.sizeLimit": "16Mi",
    "extraVolumeMounts[0].name": "scratch",
    "extraVolumeMounts[0].mountPath": "/scratch",
    "metrics.serviceMonitor.relabelings[0].targetLabel": "cluster",
    "metrics.serviceMonitor.relabelings[0].replacement": "prod-eu",
    "metrics.serviceMonitor.metricRelabelings[0].sourceLabels": "{__name__}",
    "metrics.serviceMonitor.metricRelabelings[0].regex": "finnexus_analysis_measurements_total",
    "metrics.serviceMonitor.metricRelabelings[0].action": "drop",
}

# Every mode the chart has: (id, --set values, values files).
MODES: list[tuple[str, dict[str, str], tuple[str, ...]]] = [
    ("defaults", {}, ()),
    ("all-namespaces-ha-all-optionals", {"replicas": "3", **ALL_OPTIONALS}, ()),
    ("namespaced", {"watchNamespaces": "{trading,payments}"}, ()),
    ("namespaced-ha", {"watchNamespaces": "{trading}", "replicas": "2", **ALL_OPTIONALS}, ()),
    (
        "no-crd-no-rbac",
        {
            "crds.install": "false",
            "rbac.create": "false",
            "serviceAccount.create": "false",
            "metrics.service.enabled": "false",
        },
        (),
    ),
    ("production-example", {}, (PRODUCTION,)),
]
MODE_IDS = [m[0] for m in MODES]


def kubernetes_validate(manifests: str) -> subprocess.CompletedProcess[str]:
    exe = require_tool("kubernetes-validate", VENV_BIN / "kubernetes-validate")
    return subprocess.run(
        [exe, "--strict", "--quiet", "-"],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=60,
    )


def deployment(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return only(objs, "Deployment")


def container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (c,) = deployment(objs)["spec"]["template"]["spec"]["containers"]
    return dict(c)


# -- lint and strict validation ---------------------------------------------------------------


@pytest.mark.parametrize("files", [(), (PRODUCTION,)], ids=["defaults", "production-example"])
def test_helm_lint_strict(files: tuple[str, ...]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for f in files:
        args += ["-f", f]
    out = helm(*args).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out


@pytest.mark.parametrize(("mode", "values", "files"), MODES, ids=MODE_IDS)
def test_rendered_manifests_pass_kubernetes_validate_strict(
    mode: str, values: dict[str, str], files: tuple[str, ...]
) -> None:
    text = render_text(values, files, crds=True)
    proc = kubernetes_validate(text)
    assert proc.returncode == 0, f"{mode}:\n{proc.stdout}\n{proc.stderr}"
    # Only custom kinds (no bundled schema) may warn; they are checked elsewhere (the
    # FinNexusAnalysisTemplate against its CRD: tests/packaging/test_slo_templates.py).
    custom = ("PrometheusRule", "ServiceMonitor", "FinNexusAnalysisTemplate")
    for line in (proc.stdout + proc.stderr).splitlines():
        assert any(k in line for k in custom), line


def test_kubernetes_validate_really_rejects_a_broken_manifest() -> None:
    objs = render()
    dep = deployment(objs)
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy2"] = "Always"
    proc = kubernetes_validate(yaml.safe_dump(dep))
    assert proc.returncode != 0
    assert "imagePullPolicy2" in proc.stdout + proc.stderr


# -- bad input: the schema names the value ----------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("log.format=xml", "log.format"),
        ("replicas=0", "replicas"),
        ("metrics.port=70000", "metrics.port"),
        ("watchNamespaces={Bad_NS}", "watchNamespaces.0"),
        ("prometheus.url=ftp://x", "prometheus.url"),
        ("resources.requests.cpu=lots", "resources.requests.cpu"),
        ("imagee.tag=x", "imagee"),
    ],
)
def test_invalid_value_fails_on_the_schema_naming_the_value(setting: str, named: str) -> None:
    proc = helm("template", "x", str(CHART), "--set", setting, check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert named in proc.stderr, proc.stderr


class _DiscoveryOnlyAPI(BaseHTTPRequestHandler):
    """Just enough of a kube-apiserver for `helm install --dry-run=client` to read versions."""

    ANSWERS: dict[str, Any] = {
        "/version": {"major": "1", "minor": "30", "gitVersion": "v1.30.0"},
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
        "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
    }

    def do_GET(self) -> None:
        body = self.ANSWERS.get(self.path.split("?")[0])
        data = json.dumps(body or {"kind": "Status", "code": 404}).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def discovery_kubeconfig(tmp_path: Path) -> Iterator[Path]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DiscoveryOnlyAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "stub",
                "clusters": [
                    {
                        "name": "stub",
                        "cluster": {"server": f"http://127.0.0.1:{server.server_port}"},
                    }
                ],
                "users": [{"name": "stub", "user": {}}],
                "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "stub"}}],
            }
        )
    )
    yield kubeconfig
    server.shutdown()


def test_helm_install_with_an_invalid_value_fails_on_the_schema(
    discovery_kubeconfig: Path,
) -> None:
    proc = helm(
        "install",
        "finnexus",
        str(CHART),
        "--dry-run=client",
        "--kubeconfig",
        str(discovery_kubeconfig),
        "--set",
        "log.level=verbose",
        check=False,
    )
    assert proc.returncode != 0
    assert "INSTALLATION FAILED: values don't meet the specifications" in proc.stderr
    assert "log.level" in proc.stderr and "verbose" not in proc.stdout


def _schema_node(schema: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    node = schema
    for key in path:
        props = node.get("properties", {})
        if key not in props:
            return None
        node = props[key]
    return node


def _leaves(values: Any, path: list[str]) -> Iterator[list[str]]:
    yield path
    if isinstance(values, dict):
        for k, v in values.items():
            yield from _leaves(v, [*path, k])


# Free-form Kubernetes objects passed through verbatim: their inner keys are Kubernetes'.
_OPAQUE = {"podSecurityContext", "securityContext"}


def test_values_schema_describes_every_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert schema.get("additionalProperties") is False
    for path in _leaves(values, []):
        if not path or (path[0] in _OPAQUE and len(path) > 1):
            continue
        node = _schema_node(schema, path)
        assert node is not None, f"values.yaml key {'.'.join(path)} is not in values.schema.json"
        assert node.get("description"), f"{'.'.join(path)} has no description in the schema"
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{'.'.join(path)} accepts typos"


# -- what the Deployment promises -------------------------------------------------------------


def test_default_deployment_security_resources_probes_and_args() -> None:
    objs = render()
    pod = deployment(objs)["spec"]["template"]["spec"]
    c = container(objs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["runAsNonRoot"] is True
    assert c["resources"] == {  # requests from bench/operator_idle.py (64 MiB, 3.6m idle)
        "requests": {"cpu": "10m", "memory": "96Mi"},
        "limits": {"cpu": "1000m", "memory": "1Gi"},
    }
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert "command" not in c  # the image's ENTRYPOINT is `finnexus-operator run`
    assert c["args"] == [
        "--all-namespaces",
        "--prometheus-timeout=5",
        "--prometheus-max-bytes=1048576",
        "--prometheus-max-series=100",
        "--log-format=json",
        "--log-level=info",
        "--metrics-port=8080",
        "--health-port=8081",
            "--api-qps=100",
            "--api-burst=200",
            "--workers=8",
            "--max-concurrent-probes=64",
            "--resync-seconds=3600",
    ]
    assert c["image"] == "ghcr.io/finnexus/finnexus-operator:0.1.0"
    assert deployment(objs)["spec"]["replicas"] == 1
    assert not of_kind(objs, "Role")  # no Lease access without leader election
    # A read-only root filesystem still needs a writable /tmp for Python.
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]


def test_args_follow_values() -> None:
    c = container(
        render(
            {
                "watchNamespaces": "{trading,payments}",
                "prometheus.url": "https://prom.example:9091",
                "prometheus.caSecret.name": "prom-ca",
                "prometheus.insecureSkipVerify": "true",
                "log.format": "console",
                "log.level": "debug",
                "metrics.port": "9100",
                "health.port": "9101",
            }
        )
    )
    assert c["args"] == [
        "--namespace=trading",
        "--namespace=payments",
        "--prometheus-url=https://prom.example:9091",
        "--prometheus-ca-file=/etc/finnexus/prometheus-ca/ca.crt",
        "--prometheus-insecure-skip-verify",
        "--prometheus-timeout=5",
        "--prometheus-max-bytes=1048576",
        "--prometheus-max-series=100",
        "--log-format=console",
        "--log-level=debug",
        "--metrics-port=9100",
        "--health-port=9101",
            "--api-qps=100",
            "--api-burst=200",
            "--workers=8",
            "--max-concurrent-probes=64",
            "--resync-seconds=3600",
    ]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"metrics": 9100, "health": 9101}
    assert {
        "name": "prometheus-ca",
        "mountPath": "/etc/finnexus/prometheus-ca",
        "readOnly": True,
    } in c["volumeMounts"]


def test_prometheus_token_comes_from_an_existing_secret() -> None:
    assert not [e for e in container(render())["env"] if e["name"] == "FINNEXUS_PROMETHEUS_TOKEN"]
    env = container(render({"prometheus.tokenSecret.name": "prom-token"}))["env"]
    (token,) = [e for e in env if e["name"] == "FINNEXUS_PROMETHEUS_TOKEN"]
    assert token == {
        "name": "FINNEXUS_PROMETHEUS_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "prom-token", "key": "token"}},
    }


@pytest.mark.parametrize("namespaces", [None, "{trading,payments}"], ids=["cluster", "namespaced"])
def test_leader_election_is_wired_when_replicas_above_one(namespaces: str | None) -> None:
    base = {"watchNamespaces": namespaces} if namespaces else {}
    single = render(base)
    assert not [a for a in container(single)["args"] if a.startswith("--lease")]
    assert "--leader-election" not in container(single)["args"]

    ha = render({**base, "replicas": "2"})
    assert deployment(ha)["spec"]["replicas"] == 2
    args = container(ha)["args"]
    assert args[args.index("--leader-election"):][:5] == [
        "--leader-election", "--lease-name=finnexus-finnexus-operator", "--lease-duration=15",
        "--lease-renew-deadline=10", "--lease-retry-period=2"]
    # the Lease lives in the operator's own namespace ($POD_NAMESPACE, from the downward API)
    (pod_ns,) = [e for e in container(ha)["env"] if e["name"] == "POD_NAMESPACE"]
    assert pod_ns["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    # no kopf peering anywhere: no peering objects, no kopf.dev CRDs, no kopf.dev rules
    rendered = render({**base, "replicas": "2"}, crds=True)
    assert not [o for o in rendered if "kopf.dev" in str(o.get("apiVersion"))
                or "kopf.dev" in json.dumps(o.get("rules", o.get("spec", {}).get("group", "")))]
    assert not (CHART / "crds").exists() and not (CHART / "templates" / "peering.yaml").exists()


def test_lease_settings_and_shard_selector_follow_values() -> None:
    args = container(render({"replicas": "3", "leaderElection.leaseName": "shard-a",
                             "leaderElection.leaseDurationSeconds": "30",
                             "leaderElection.renewDeadlineSeconds": "20",
                             "leaderElection.retryPeriodSeconds": "4",
                             "shard.selector": "finnexus.ai/shard=a"}))["args"]
    assert {"--lease-name=shard-a", "--lease-duration=30", "--lease-renew-deadline=20",
            "--lease-retry-period=4", "--selector=finnexus.ai/shard=a"} <= set(args)
    assert "--selector=team in (x,y)" in container(
        render({"shard.selector": "team in (x\\,y)"}))["args"]
    assert not [a for a in container(render())["args"] if a.startswith("--selector")]


def test_api_load_settings_follow_values_and_default_as_the_operator_does() -> None:
    from finnexus_operator.settings import Settings

    defaults = set(container(render())["args"])
    s = Settings()
    assert {f"--api-qps={s.api_qps:g}", f"--api-burst={s.api_burst}", f"--workers={s.workers}",
            f"--max-concurrent-probes={s.max_concurrent_probes}",
            f"--resync-seconds={s.resync_seconds:g}"} <= defaults
    args = set(container(render({"api.qps": "0", "api.burst": "10", "api.workers": "16",
                                 "api.maxConcurrentProbes": "8", "api.resyncSeconds": "0"})
                         )["args"])
    assert {"--api-qps=0", "--api-burst=10", "--workers=16", "--max-concurrent-probes=8",
            "--resync-seconds=0"} <= args


def test_metrics_service_service_monitor_pdb_network_policy() -> None:
    objs = render(ALL_OPTIONALS)
    svc = only(objs, "Service")
    assert svc["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = deployment(objs)["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    sm = only(objs, "ServiceMonitor")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    assert endpoint["honorLabels"] is True
    pdb = only(objs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    netpol = only(objs, "NetworkPolicy")
    assert netpol["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert {p["port"] for rule in netpol["spec"]["ingress"] for p in rule["ports"]} == {
        "metrics",
        "health",
    }
    defaults = render()
    for kind in ("ServiceMonitor", "PrometheusRule", "PodDisruptionBudget", "NetworkPolicy"):
        assert not of_kind(defaults, kind), f"{kind} must be opt-in"


def test_production_example_renders_namespaced_ha_install() -> None:
    objs = render(files=(PRODUCTION,))
    assert deployment(objs)["spec"]["replicas"] == 2
    assert {r["metadata"]["namespace"] for r in of_kind(objs, "Role")
            if not r["metadata"]["name"].endswith("-leader-election")} == {"trading", "payments"}
    # only the user-facing roles aggregated into view/edit/admin are cluster-wide, and the
    # read-only one of the cluster-scoped FinNexusAnalysisTemplates
    assert all("rbac.authorization.k8s.io/aggregate-to-" in str(r["metadata"]["labels"])
               or r["metadata"]["name"].endswith("-templates")
               for r in of_kind(objs, "ClusterRole"))
    args = container(objs)["args"]
    assert "--leader-election" in args and "--namespace=trading" in args
    netpol = only(objs, "NetworkPolicy")
    assert "Egress" in netpol["spec"]["policyTypes"]


def test_notes_tell_the_next_command(tmp_path: Path) -> None:
    # `helm template` does not print NOTES.txt and `helm install` needs a cluster: render it
    # with helm's own engine from a copy of the chart where a ConfigMap `tpl`s the file.
    chart = tmp_path / "finnexus-operator"
    shutil.copytree(CHART, chart)
    shutil.copy(chart / "templates" / "NOTES.txt", chart / "files" / "notes.txt")
    (chart / "templates" / "notes-as-configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n"
        '{{ tpl (.Files.Get "files/notes.txt") . | indent 4 }}\n'
    )

    def notes(*sets: str) -> str:
        out = helm(
            "template",
            "finnexus",
            str(chart),
            "--namespace",
            "finnexus-system",
            "--show-only",
            "templates/notes-as-configmap.yaml",
            *sets,
        ).stdout
        return str(yaml.safe_load(out)["data"]["notes"])

    text = notes()
    assert "kubectl -n finnexus-system rollout status deployment/finnexus-finnexus-operator" in text
    assert "kubectl apply -n default -f examples/minimal.yaml" in text
    assert "prometheus.url is empty" in text
    text = notes(
        "--set",
        "watchNamespaces={trading}",
        "--set",
        "prometheus.url=http://p:9090",
        "--set",
        "crds.install=false",
    )
    assert "kubectl apply -n trading -f examples/minimal.yaml" in text
    assert "prometheus.url is empty" not in text
    assert "kubectl apply --server-side -f" in text
    assert "leader election" not in text and "label selector" not in text
    text = notes("--set", "replicas=2", "--set", "shard.selector=finnexus.ai/shard=a")
    assert "get lease finnexus-finnexus-operator -o jsonpath='{.spec.holderIdentity}'" in text
    assert 'matching the label selector "finnexus.ai/shard=a"' in text
    assert "kubectl get fnd -A -o custom-columns=" in text


@pytest.mark.parametrize(("mode", "values", "files"), MODES, ids=MODE_IDS)
def test_rendered_args_are_accepted_by_the_operator_cli(
    mode: str, values: dict[str, str], files: tuple[str, ...]
) -> None:
    """The chart's flags parse with the real `finnexus-operator run` parser and settings."""
    import argparse

    from finnexus_operator.settings import add_run_arguments, settings_from

    objs = render(values, files)
    parser = argparse.ArgumentParser(prog="finnexus-operator run", exit_on_error=False)
    add_run_arguments(parser)
    args = container(objs)["args"]
    settings = settings_from(parser.parse_args(args), environ={})
    watched = tuple(v for a in args if a.startswith("--namespace=") for v in [a.split("=", 1)[1]])
    assert settings.namespaces == watched
    assert settings.clusterwide is (not watched)
    assert settings.leader_election is (deployment(objs)["spec"]["replicas"] > 1)
    ports = {p["name"]: p["containerPort"] for p in container(objs)["ports"]}
    assert (settings.metrics_port, settings.health_port) == (ports["metrics"], ports["health"])


# -- chart habits: one timeout default, user roles, extras, dashboards, notifications -------------


def test_one_prometheus_timeout_default_everywhere() -> None:
    from finnexus_operator.settings import Settings

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["prometheus"]["timeoutSeconds"] == Settings().prometheus_timeout == 5
    readme = (CHART.parents[1] / "README.md").read_text()
    assert "`--prometheus-timeout`, default 5 s" in readme


@pytest.mark.parametrize("namespaces", [None, "{trading}"], ids=["cluster", "namespaced"])
def test_aggregate_cluster_roles_give_people_view_edit_admin(namespaces: str | None) -> None:
    objs = render({"watchNamespaces": namespaces} if namespaces else {})
    roles = {r["metadata"]["name"].rsplit("-", 1)[1]: r for r in of_kind(objs, "ClusterRole")
             if any(k.startswith("rbac.authorization.k8s.io/aggregate-to-")
                    for k in r["metadata"]["labels"])}
    assert set(roles) == {"view", "edit", "admin"}
    for name, role in roles.items():
        assert role["metadata"]["labels"][f"rbac.authorization.k8s.io/aggregate-to-{name}"] == (
            "true")
        main, status, templates = role["rules"]
        # the shared SLO templates: readable by all, changed by nobody through these roles
        assert templates["resources"] == ["finnexusanalysistemplates"]
        assert set(templates["verbs"]) == {"get", "list", "watch"}
        assert main["apiGroups"] == ["finnexus.ai"] and main["resources"] == [
            "finnexusdeployments"]
        assert status["resources"] == ["finnexusdeployments/status"]
        assert set(status["verbs"]) == {"get", "list", "watch"}  # status is the operator's
        writes = {"create", "update", "patch", "delete"} & set(main["verbs"])
        assert bool(writes) is (name != "view")
    for off in ({"rbac.aggregateClusterRoles": "false"}, {"rbac.create": "false"}):
        assert not [r for r in of_kind(render(off), "ClusterRole")
                    if "aggregate" in str(r["metadata"]["labels"])]


def test_extra_args_env_volumes_and_service_monitor_relabelings() -> None:
    objs = render(ALL_OPTIONALS)
    c = container(objs)
    assert c["args"][-1] == "--prometheus-max-series=50"  # last: it wins over the chart's
    assert {"name": "TZ", "value": "UTC"} in c["env"]
    assert {"name": "scratch", "mountPath": "/scratch"} in c["volumeMounts"]
    pod = deployment(objs)["spec"]["template"]["spec"]
    assert {"name": "scratch", "emptyDir": {"sizeLimit": "16Mi"}} in pod["volumes"]
    (endpoint,) = only(objs, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["relabelings"] == [{"targetLabel": "cluster", "replacement": "prod-eu"}]
    assert endpoint["metricRelabelings"] == [{
        "sourceLabels": ["__name__"], "regex": "finnexus_analysis_measurements_total",
        "action": "drop"}]
    defaults = render()
    assert "relabelings" not in only(defaults, "ServiceMonitor" if of_kind(
        defaults, "ServiceMonitor") else "Deployment").get("spec", {})


def test_dashboard_configmap_ships_the_dashboard_file_behind_a_value() -> None:
    assert not [o for o in of_kind(render(), "ConfigMap") if o["metadata"]["name"].endswith(
        "-dashboard")]
    objs = render({"dashboards.enabled": "true", "dashboards.namespace": "monitoring",
                   "dashboards.annotations.grafana_folder": "Releases"})
    (cm,) = [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].endswith(
        "-dashboard")]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Releases"}
    shipped = (CHART / "dashboards" / "finnexus.json").read_text()
    assert json.loads(cm["data"]["finnexus.json"]) == json.loads(shipped)


def test_notifications_config_is_what_the_operator_loads(tmp_path: Path) -> None:
    from finnexus_operator.adapters.notify import load_config

    objs = render(ALL_OPTIONALS)
    c = container(objs)
    (flag,) = [a for a in c["args"] if a.startswith("--notifications-config=")]
    config_path = Path(flag.split("=", 1)[1])
    (cm,) = [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].endswith(
        "-notifications")]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["notifications-config"]["mountPath"] == str(config_path.parent)
    volumes = {v["name"]: v for v in deployment(objs)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["notifications-config"]["configMap"]["name"] == cm["metadata"]["name"]
    assert volumes["notifications-urls"]["secret"]["secretName"] == "notify-urls"
    config = yaml.safe_load(cm["data"][config_path.name])
    urls = Path(mounts["notifications-urls"]["mountPath"])
    assert [(r["name"], r["type"], r["urlFile"], r.get("events")) for r in config["receivers"]] == [
        ("on-call", "slack", str(urls / "slack"), ["RolledBack", "Failed"]),
        ("audit", "webhook", str(urls / "audit"), None)]
    # the operator's own loader accepts it, the Secret's keys standing where they are mounted
    for r in config["receivers"]:
        local = tmp_path / Path(r["urlFile"]).name
        local.write_text("https://hooks.example/x\n")
        r["urlFile"] = str(local)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert [r.name for r in load_config(str(tmp_path / "config.yaml"))] == ["on-call", "audit"]
    assert "checksum/notifications" in deployment(objs)["spec"]["template"]["metadata"][
        "annotations"]


@pytest.mark.parametrize(("setting", "says"), [
    ({"notifications.enabled": "true"}, "needs notifications.urlSecret.name"),
    ({"notifications.enabled": "true", "notifications.urlSecret.name": "u"},
     "at least one entry in notifications.receivers"),
])
def test_notifications_without_secret_or_receivers_fail_the_render(
    setting: dict[str, str], says: str,
) -> None:
    args = ["template", "x", str(CHART)]
    for k, v in setting.items():
        args += ["--set", f"{k}={v}"]
    proc = helm(*args, check=False)
    assert proc.returncode != 0 and says in proc.stderr


def test_helm_lint_strict_with_every_optional_value() -> None:
    from tests.packaging.tools import set_args

    out = helm("lint", "--strict", str(CHART), *set_args(ALL_OPTIONALS)).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out
