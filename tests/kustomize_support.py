"""deploy/kubernetes rendered and checked without a cluster (issue 22, item 3; D130).

``rendered`` is what ``kubectl kustomize`` outputs, computed in Python for the few kustomize
features ``kustomization.yaml`` uses (resources, one label pair set with ``includeSelectors``,
``configMapGenerator`` from files, ``images``): CI may have no kubectl, and the validation must still
run there. Any other kustomization key is refused, naming it, rather than rendered wrong; where
kubectl is installed, tests/integration/test_deploy.py holds this rendering equal to kubectl's.
The generated ConfigMap's name carries a content hash as kustomize's does, though not kustomize's
hash: ``same_but_hash`` compares the two renderings with that suffix set aside.

``problems`` validates each rendered object against one Kubernetes version's API schemas
(``kubernetes-validate``, offline, strict: an unknown field is an error as under the API server's
strict field validation) and names the object and the field of each problem.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
from ruamel.yaml import YAML
from support import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
VERSIONS = ("1.29.0", "1.37.0")
"""Two Kubernetes releases: the oldest still commonly run, and the newest kubernetes-validate 1.37 knows."""
RENDERED_KEYS = frozenset({"apiVersion", "kind", "labels", "resources", "configMapGenerator", "images"})
SELECTOR_PATHS = {
    "Service": (("spec", "selector"),),
    "Deployment": (("spec", "selector", "matchLabels"), ("spec", "template", "metadata", "labels")),
    "PodDisruptionBudget": (("spec", "selector", "matchLabels"),),
    "NetworkPolicy": (("spec", "podSelector", "matchLabels"),),
}
"""Where kustomize's ``includeSelectors`` puts the labels, for the kinds rendered here (besides
the pod template's spread constraints and a NetworkPolicy's peers, handled below)."""
HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")


class UnrenderedKey(ValueError):
    """A kustomization feature this renderer does not implement: render with kubectl instead."""


def load_all(path: Path) -> list[dict[str, Any]]:
    return [document for document in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")) if document]


def rendered(folder: Path = KUBERNETES) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize folder`` would output, in file order, ConfigMaps first."""
    path = folder / "kustomization.yaml"
    (kustomization,) = load_all(path)
    unknown = sorted(set(kustomization) - RENDERED_KEYS)
    if unknown:
        raise UnrenderedKey(f"{path}: '{unknown[0]}': not rendered without kubectl (render with `kubectl kustomize`)")
    objects = [document for name in kustomization.get("resources", []) for document in load_all(folder / name)]
    generated = {}
    for generator in kustomization.get("configMapGenerator", []):
        data = {Path(name).name: (folder / name).read_text(encoding="utf-8") for name in generator["files"]}
        digest = hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()[:10]
        configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
        generated[generator["name"]] = f"{generator['name']}-{digest}"
        configmap["metadata"]["name"] = generated[generator["name"]]
        objects.insert(0, configmap)
    for entry in kustomization.get("labels", []):
        for resource in objects:
            _label(resource, entry["pairs"], entry.get("includeSelectors", False))
    for resource in objects:
        _images_and_configmaps(resource, kustomization.get("images", []), generated)
    return objects


def _at(node: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        node = node.setdefault(key, {})
    return node


def _label(resource: dict[str, Any], pairs: dict[str, str], selectors: bool) -> None:
    _at(resource, ("metadata", "labels")).update(pairs)
    if not selectors:
        return
    for path in SELECTOR_PATHS.get(resource["kind"], ()):
        _at(resource, path).update(pairs)
    pod = resource.get("spec", {}).get("template", {}).get("spec", {})
    for constraint in pod.get("topologySpreadConstraints", []):
        _at(constraint, ("labelSelector", "matchLabels")).update(pairs)
    for rule in resource.get("spec", {}).get("ingress", []) if resource["kind"] == "NetworkPolicy" else []:
        for peer in rule.get("from", []):
            if "podSelector" in peer:
                _at(peer, ("podSelector", "matchLabels")).update(pairs)


def _images_and_configmaps(resource: dict[str, Any], images: list[dict[str, str]], generated: dict[str, str]) -> None:
    pod = resource.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod.get("containers", []):
        for image in images:
            if container["image"] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            volume["configMap"]["name"] = generated.get(volume["configMap"]["name"], volume["configMap"]["name"])


def same_but_hash(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``objects`` sorted by kind and name, each generated ConfigMap's name (where it is defined and
    where it is referred to) with its hash suffix replaced by ``-HASH``."""
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return HASH_SUFFIX.sub("-HASH", node) if isinstance(node, str) and node in names else node

    return sorted((walk(o) for o in objects), key=lambda o: (o["kind"], o["metadata"]["name"]))


def problems(objects: list[dict[str, Any]], version: str) -> list[str]:
    """Each object that fails ``version``'s schema: ``Kind/name: field.path: why``."""
    found = []
    for resource in objects:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            field = ".".join(map(str, error.path)) or "(the object)"
            found.append(f"{resource['kind']}/{resource['metadata']['name']}: {field}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            found.append(f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}: {error}")
    return found
