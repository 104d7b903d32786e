"""Issue 14, part 5: the container image and the Kubernetes set, checked without a cluster.

The manifests validate against the Kubernetes API schemas that `kubernetes-validate` ships (offline),
and against each other and the capability files' ports. The Dockerfile's entrypoint and health
check are run exactly as written, against a real gateway. The image itself is built only where a
container engine answers.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from ruamel.yaml import YAML
from support import ROOT
from test_serve_process import ports_free, wait_listening

pytest.importorskip("kubernetes_validate")
from kustomize_support import KUBERNETES, VERSIONS, load_all, problems, rendered, same_but_hash


def load(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def instruction(keyword: str) -> list[str]:
    return [arguments for k, arguments in dockerfile() if k == keyword]


def image_env() -> dict[str, str]:
    env = {}
    for arguments in instruction("ENV"):
        env.update(pair.split("=", 1) for pair in shlex.split(arguments))
    return env


def healthcheck_command() -> list[str]:
    (healthcheck,) = instruction("HEALTHCHECK")
    return json.loads(healthcheck[healthcheck.index("CMD") + 3 :])


# ------------------------------------------------------------------------------------------------
# Kubernetes


def test_manifests_agree_with_the_image_and_the_capabilities():
    """The container's ports are the served files' adapter ports (control included), its mount is
    where the image reads its files. The fleet's wiring is tests/unit/test_kubernetes_manifests.py."""
    (deployment,) = load_all(KUBERNETES / "deployment.yaml")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    served = [*sorted((ROOT / "capabilities").glob("*.yaml")), KUBERNETES / "naftiko-control.yaml"]
    adapter_ports = {a["port"] for f in served for a in load(f)["capability"]["exposes"]}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert set(ports.values()) == adapter_ports == {8080, 9090, 9191}
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == image_env()["NAFTIKO_CAPABILITIES"]
    (volume,) = pod["spec"]["volumes"]
    assert volume["name"] == mount["name"] and volume["configMap"]["name"] == "naftiko-capabilities"


def test_kustomization_serves_copies_of_the_capability_files():
    """kustomize reads no file outside its folder: the copies it ships must not drift from capabilities/."""
    (kustomization,) = load_all(KUBERNETES / "kustomization.yaml")
    (generator,) = kustomization["configMapGenerator"]
    originals = sorted((ROOT / "capabilities").glob("*.yaml"))
    assert generator["files"] == [f"capabilities/{f.name}" for f in originals] + ["naftiko-control.yaml"]
    for original in originals:
        assert (KUBERNETES / "capabilities" / original.name).read_bytes() == original.read_bytes(), original.name


def test_kubectl_renders_what_the_offline_check_validates():
    """kubectl's kustomize and tests/kustomize_support.py render the same objects (the generated
    ConfigMap's hash aside), so the unit tier's validation of the latter holds for the former, which
    is also validated here for both Kubernetes versions."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed: tests/unit validates the Python rendering")
    output = subprocess.run([kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60)
    assert output.returncode == 0, output.stderr
    by_kubectl = [d for d in YAML(typ="safe").load_all(output.stdout) if d]
    assert same_but_hash(by_kubectl) == same_but_hash(rendered())
    for version in VERSIONS:
        assert problems(by_kubectl, version) == []
    configmap = next(o for o in by_kubectl if o["kind"] == "ConfigMap")
    assert configmap["metadata"]["name"].startswith("naftiko-capabilities-")  # content hash: a change rolls pods
    for name, text in configmap["data"].items():
        assert text == next(KUBERNETES.rglob(name)).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# The image


def test_dockerfile_essentials():
    stages = instruction("FROM")
    assert all("-slim" in stage for stage in stages), stages
    (user,) = instruction("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert instruction("EXPOSE") == ["8080 9090"]
    (entrypoint,) = (json.loads(e) for e in instruction("ENTRYPOINT"))
    assert "naftiko serve --host 0.0.0.0" in entrypoint[2] and "$NAFTIKO_CAPABILITIES" in entrypoint[2]
    assert image_env()["NAFTIKO_CAPABILITIES"] == "/capabilities"
    assert healthcheck_command()[0] == "python"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignored, "the build context is only what the image needs"
    assert {line for line in ignored if line.startswith("!")} == {
        "!pyproject.toml",
        "!README.md",
        "!naftiko_runtime/",
        "!capabilities/",
    }


def local_env(**overrides: str) -> dict[str, str]:
    """This machine's environment with the image's ENV (but this machine's PATH) and ``overrides``."""
    return {**os.environ, **{k: v for k, v in image_env().items() if k != "PATH"}, **overrides}


def health(port: int) -> int:
    env = local_env(NAFTIKO_HEALTH_PORT=str(port))
    command = healthcheck_command()
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=10).returncode


def test_entrypoint_and_healthcheck_run_as_written(tmp_path, upstream):
    """The image's ENTRYPOINT serves every *.yaml and *.yml of the folder; its HEALTHCHECK passes on a
    404 answer and fails on a closed port; the Kubernetes probes' paths answer 200 on the control
    port of the ConfigMap's naftiko-control.yaml; SIGTERM reaches naftiko itself (``exec``), which
    exits 0."""
    folder = tmp_path / "capabilities"
    folder.mkdir()
    model, bulk = sorted((ROOT / "capabilities").glob("*.yaml"))
    shutil.copy(model, folder / model.name)
    shutil.copy(bulk, folder / (bulk.stem + ".yml"))
    shutil.copy(KUBERNETES / "naftiko-control.yaml", folder)
    offset = next(
        o for o in iter(lambda: random.randrange(10000, 40000), None) if ports_free(8080 + o, 9090 + o, 9191 + o)
    )
    assert health(8080 + offset) != 0, "nothing listens yet"
    entrypoint = json.loads(instruction("ENTRYPOINT")[0])
    env = local_env(NAFTIKO_CAPABILITIES=str(folder), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    # Appended options override the image's --host 0.0.0.0: a test listens on loopback only.
    base_uris = [f"--base-uri=polytomic-subpackage-{ns}={upstream.url}" for ns in ("modelsync", "bulksync")]
    process = subprocess.Popen(
        [*entrypoint, "--host", "127.0.0.1", "--port-offset", str(offset), *base_uris],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(process, 8080 + offset)
        wait_listening(process, 9090 + offset)
        # The first answer of a fresh instance takes 0.6 s here, more on a loaded machine: longer than
        # the check's 2 s timeout can bear under load (the image gives it a start period and retries).
        assert httpx.get(f"http://127.0.0.1:{8080 + offset}/", timeout=30).status_code == 404  # alive, no route
        assert health(8080 + offset) == 0
        assert httpx.get(f"http://127.0.0.1:{8080 + offset}/v1/api/bulk/syncs").status_code == 200  # the .yml file
        (deployment,) = load_all(KUBERNETES / "deployment.yaml")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            target = container[probe]["httpGet"]
            answer = httpx.get(f"http://127.0.0.1:{ports[target['port']] + offset}{target['path']}", timeout=30)
            assert answer.status_code == 200, (probe, answer.text)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert health(8080 + offset) != 0


def working_engine() -> tuple[str | None, str]:
    """A container engine whose ``info`` answers, or why there is none."""
    reasons = []
    for name in ("podman", "docker"):
        path = shutil.which(name)
        if path is None:
            reasons.append(f"{name} not installed")
            continue
        try:
            info = subprocess.run([path, "info"], capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            reasons.append(f"`{name} info` did not answer in 20 s")
            continue
        if info.returncode == 0:
            return path, ""
        last = (info.stderr.strip().splitlines() or ["no output"])[-1]
        reasons.append(f"`{name} info` failed: {last}")
    return None, "; ".join(reasons)


@pytest.mark.timeout(1500)  # base images pulled (120 s each) and the build (900 s), where an engine runs
def test_image_builds_where_a_container_engine_runs():
    engine, reason = working_engine()
    if engine is None:
        pytest.skip(f"no working container engine ({reason})")
    for base in sorted({stage.split()[0] for stage in instruction("FROM")}):
        try:
            pulled = subprocess.run([engine, "pull", base], capture_output=True, text=True, timeout=120)
            last = (pulled.stderr.strip().splitlines() or ["no output"])[-1]
        except subprocess.TimeoutExpired:
            pulled, last = None, "no answer in 120 s"
        if pulled is None or pulled.returncode != 0:
            pytest.skip(f"{Path(engine).name} works, but the base image {base} cannot be pulled: {last}")
    tag = "naftiko-runtime:test"
    built = subprocess.run([engine, "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    inspected = subprocess.run([engine, "image", "inspect", tag], capture_output=True, text=True, timeout=60)
    config = json.loads(inspected.stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Healthcheck"]["Test"][1:] == healthcheck_command()
