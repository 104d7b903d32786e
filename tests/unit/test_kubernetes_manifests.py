"""Issue 22, item 3: deploy/kubernetes renders to objects valid for two Kubernetes versions, wired
into a fleet (D129-D131), and a broken manifest fails the check, naming the object and the field.

In-process: the kustomization is rendered in Python (tests/kustomize_support.py; kubectl's own
rendering is held equal to it in tests/integration/test_deploy.py) and validated against the API
schemas ``kubernetes-validate`` ships, offline.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

pytest.importorskip("kubernetes_validate", reason="the test extra's kubernetes-validate holds the API schemas")
from kustomize_support import KUBERNETES, VERSIONS, UnrenderedKey, load_all, problems, rendered

OBJECTS = rendered()


def one(kind: str, name: str) -> dict[str, Any]:
    (found,) = (o for o in OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name)
    return found


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


RUNTIME, STATE = one("Deployment", "naftiko-runtime"), one("Deployment", "naftiko-state")
RUNTIME_POD, STATE_POD = (d["spec"]["template"] for d in (RUNTIME, STATE))
(CONTAINER,) = RUNTIME_POD["spec"]["containers"]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_object_is_valid_for_the_kubernetes_version(version):
    assert problems(OBJECTS, version) == []
    assert sorted(o["kind"] for o in OBJECTS) == [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "Service",
    ]


def broken_copy(tmp_path: Path, manifest: str, edit: str, replacement: str) -> list[dict[str, Any]]:
    folder = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, folder)
    text = (folder / manifest).read_text(encoding="utf-8")
    assert edit in text
    (folder / manifest).write_text(text.replace(edit, replacement, 1), encoding="utf-8")
    return rendered(folder)


@pytest.mark.parametrize(
    ("manifest", "edit", "replacement", "expected"),
    [
        (
            "hpa.yaml",
            "minReplicas: 3",
            'minReplicas: "3"',
            "HorizontalPodAutoscaler/naftiko-runtime: spec.minReplicas: '3' is not of type 'integer'",
        ),
        (
            "pdb.yaml",
            "maxUnavailable: 1",
            "maxUnavailabel: 1",
            "PodDisruptionBudget/naftiko-runtime: spec: Additional properties are not allowed ('maxUnavailabel'",
        ),
        (
            "state.yaml",
            "containerPort: 6379",
            "containerPort: redis",
            "Deployment/naftiko-state: spec.template.spec.containers.0.ports.0.containerPort: 'redis' is not of type",
        ),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_a_broken_manifest_fails_naming_the_object_and_field(tmp_path, version, manifest, edit, replacement, expected):
    found = problems(broken_copy(tmp_path, manifest, edit, replacement), version)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_the_renderer_refuses_what_it_does_not_render(tmp_path):
    folder = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, folder)
    with (folder / "kustomization.yaml").open("a", encoding="utf-8") as kustomization:
        kustomization.write("patches:\n- path: more.yaml\n")
    with pytest.raises(UnrenderedKey, match=r"kustomization.yaml: 'patches': not rendered without kubectl"):
        rendered(folder)


def test_every_manifest_in_the_folder_is_in_the_kustomization():
    (kustomization,) = load_all(KUBERNETES / "kustomization.yaml")
    listed = set(kustomization["resources"]) | {
        name for generator in kustomization["configMapGenerator"] for name in generator["files"]
    }
    present = {str(p.relative_to(KUBERNETES)) for p in KUBERNETES.rglob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_each_service_selects_its_own_workload_only():
    """The kustomization's common label is on every pod: a Service selecting only it would route
    callers to the store. Each selects its workload's name too."""
    runtime, state = one("Service", "naftiko-runtime"), one("Service", "naftiko-state")
    pod_labels = {name: pod["metadata"]["labels"] for name, pod in (("runtime", RUNTIME_POD), ("state", STATE_POD))}
    assert selects(runtime["spec"]["selector"], pod_labels["runtime"])
    assert not selects(runtime["spec"]["selector"], pod_labels["state"])
    assert selects(state["spec"]["selector"], pod_labels["state"])
    assert not selects(state["spec"]["selector"], pod_labels["runtime"])
    assert {p["targetPort"] for p in runtime["spec"]["ports"]} == {"rest", "mcp"}, "the control port is not routed"


def test_the_runtime_uses_the_store_and_only_it_reaches_the_store():
    environment = {e["name"]: e for e in CONTAINER["env"]}
    url = urlsplit(environment["NAFTIKO_STATE"]["value"])
    service = one("Service", "naftiko-state")
    (port,) = service["spec"]["ports"]
    assert (url.scheme, url.hostname, url.port, url.path) == ("redis", "naftiko-state", port["port"], "/0")
    (store,) = STATE_POD["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in store["ports"]} == {port["targetPort"]: 6379}
    assert "--save" in store["args"] and store["args"][store["args"].index("--appendonly") + 1] == "no"
    policy = one("NetworkPolicy", "naftiko-state")
    assert selects(policy["spec"]["podSelector"]["matchLabels"], STATE_POD["metadata"]["labels"])
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert selects(peer["podSelector"]["matchLabels"], RUNTIME_POD["metadata"]["labels"])
    assert [p["port"] for p in rule["ports"]] == [port["targetPort"]]
    # Service links would add NAFTIKO_STATE_PORT=tcp://... beside the runtime's own NAFTIKO_* settings.
    assert RUNTIME_POD["spec"]["enableServiceLinks"] is False


def test_probes_ask_the_control_adapter_served_from_the_configmap():
    configmap = one("ConfigMap", RUNTIME_POD["spec"]["volumes"][0]["configMap"]["name"])
    control = YAML(typ="safe").load(configmap["data"]["naftiko-control.yaml"])
    (adapter,) = control["capability"]["exposes"]
    ports = {p["name"]: p["containerPort"] for p in CONTAINER["ports"]}
    assert adapter["type"] == "control" and ports["control"] == adapter["port"]
    assert adapter.get("management", {}).get("health", True) is True
    probes = {kind: CONTAINER[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe")}
    assert probes == {
        "readinessProbe": {"path": "/health/ready", "port": "control"},
        "livenessProbe": {"path": "/health/live", "port": "control"},
    }


def test_the_fleet_survives_drains_and_spreads_over_machines():
    hpa, pdb = one("HorizontalPodAutoscaler", "naftiko-runtime"), one("PodDisruptionBudget", "naftiko-runtime")
    assert hpa["spec"]["scaleTargetRef"]["name"] == RUNTIME["metadata"]["name"]
    assert "replicas" not in RUNTIME["spec"], "the autoscaler owns the replica count"
    assert hpa["spec"]["minReplicas"] >= 3
    assert hpa["spec"]["minReplicas"] - pdb["spec"]["maxUnavailable"] >= 2, "a drain leaves two serving"
    assert selects(pdb["spec"]["selector"]["matchLabels"], RUNTIME_POD["metadata"]["labels"])
    assert not selects(pdb["spec"]["selector"]["matchLabels"], STATE_POD["metadata"]["labels"])
    assert CONTAINER["resources"]["requests"]["cpu"], "CPU utilisation is relative to the request"
    spread = {c["topologyKey"]: c for c in RUNTIME_POD["spec"]["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert "topology.kubernetes.io/zone" in spread
    for constraint in spread.values():
        assert selects(constraint["labelSelector"]["matchLabels"], RUNTIME_POD["metadata"]["labels"])
    assert STATE["spec"]["replicas"] == 1 and STATE["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("pod", [RUNTIME_POD, STATE_POD], ids=["runtime", "state"])
def test_every_container_runs_unprivileged_and_bounded(pod):
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] > 0
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"]["memory"]
        assert container["readinessProbe"] and container["livenessProbe"]
