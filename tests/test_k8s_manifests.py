"""k8s/: every overlay renders with `kubectl kustomize`, every rendered object validates
offline against the Kubernetes API schemas (kubernetes-validate), and the properties the
deployment promises hold in what is rendered: locked-down containers, probes, references
that resolve, NetworkPolicies that let only the API reach Triton and Qdrant, environment
variables that name real settings (issue 11)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import kubernetes_validate
import pytest
import yaml

from conftest import REPO_ROOT
from imagesearch.app import SERVICE_NAME  # the name the server's health service answers for
from imagesearch.config import ENV_PREFIX, Settings

K8S = REPO_ROOT / "k8s"
OVERLAYS = ("single-node", "scale-out", "scale-out-gpu")
COMPONENTS = ("tls", "api-keys")
# Oldest Kubernetes the manifests target: gRPC probes are GA from 1.27.
KUBERNETES_VERSION = "1.29.0"
# Settings not yet in config.py that manifests may name already (none now).
PENDING_SETTINGS: set[str] = set()
# Secrets the operator creates (docs/deploy.md); the manifests only reference them.
OPERATOR_SECRETS = {"qdrant-api-key", "imagesearch-tls", "imagesearch-api-keys"}
API = {"app.kubernetes.io/name": "imagesearch", "app.kubernetes.io/component": "api"}
WORKLOADS = ("Deployment", "StatefulSet")


def _kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is missing: CI renders the manifests with `kubectl kustomize`")
        pytest.skip("kubectl is not installed (Debian: apt-get install kubectl)")
    return found


def render(path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize path` as a list of objects."""
    out = subprocess.run(
        [_kubectl(), "kustomize", "--load-restrictor=LoadRestrictionsNone", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def with_components(tmp_path: Path, overlay: str) -> Path:
    """A kustomization: the overlay plus every component (TLS, API keys)."""
    root = tmp_path / f"{overlay}-secured"
    root.mkdir()
    rel = os.path.relpath(K8S, root)
    (root / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f"{rel}/overlays/{overlay}"],
        "components": [f"{rel}/components/{c}" for c in COMPONENTS],
    }))
    return root


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("k8s")
    out = {name: render(K8S / "overlays" / name) for name in OVERLAYS}
    out.update({f"{name}+components": render(with_components(tmp, name)) for name in OVERLAYS})
    return out


def of_kind(objects: list[dict], *kinds: str) -> list[dict]:
    return [o for o in objects if o["kind"] in kinds]


def named(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_specs(objects: list[dict]) -> Iterator[tuple[dict, dict]]:
    for workload in of_kind(objects, *WORKLOADS):
        yield workload, workload["spec"]["template"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_every_overlay_renders_and_validates(rendered) -> None:
    for name, objects in rendered.items():
        assert objects, name
        for obj in objects:
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_containers_are_locked_down_and_sized(rendered) -> None:
    for name, objects in rendered.items():
        for workload, template in pod_specs(objects):
            pod = template["spec"]
            where = f"{name}: {workload['kind']}/{workload['metadata']['name']}"
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert pod.get("automountServiceAccountToken") is False, where
            for c in pod["containers"]:
                sc = c["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False, (where, c["name"])
                assert sc["readOnlyRootFilesystem"] is True, (where, c["name"])
                assert sc["capabilities"]["drop"] == ["ALL"], (where, c["name"])
                assert {"cpu", "memory"} <= c["resources"]["requests"].keys(), (where, c["name"])
                assert "memory" in c["resources"]["limits"], (where, c["name"])
                assert "livenessProbe" in c and "startupProbe" in c, (where, c["name"])
                image = c["image"]
                assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), (where, image)


def test_every_pod_is_under_the_default_deny(rendered) -> None:
    for name, objects in rendered.items():
        deny = named(objects, "NetworkPolicy", "imagesearch-default-deny")["spec"]
        assert deny["policyTypes"] == ["Ingress"] and not deny.get("ingress"), name
        for obj in objects:
            assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "imagesearch", (name, obj["metadata"]["name"])
        for workload, template in pod_specs(objects):
            assert selects(deny["podSelector"]["matchLabels"], template["metadata"]["labels"]), (name, workload["metadata"]["name"])


def test_api_and_triton_probe_grpc_health(rendered) -> None:
    for name, objects in rendered.items():
        for workload, template in pod_specs(objects):
            for c in template["spec"]["containers"]:
                if c["name"] == "api":
                    # With the TLS component, the probes call the plaintext health port.
                    port = 8086 if name.endswith("+components") else 50051
                    assert c["readinessProbe"]["grpc"] == {"port": port, "service": SERVICE_NAME}
                    assert c["livenessProbe"]["grpc"]["port"] == port
                    assert c["startupProbe"]["grpc"]["port"] == port
                if c["name"] == "triton":
                    assert c["livenessProbe"]["grpc"]["port"] == 8001, name


def test_references_resolve(rendered) -> None:
    """Services, PDBs and HPAs find their pods; ConfigMaps and Secrets exist or are the
    operator's (documented) or optional."""
    for name, objects in rendered.items():
        labels = [t["metadata"]["labels"] for _, t in pod_specs(objects)]
        for svc in of_kind(objects, "Service"):
            assert any(selects(svc["spec"]["selector"], lab) for lab in labels), (name, svc["metadata"]["name"])
        for pdb in of_kind(objects, "PodDisruptionBudget"):
            assert any(selects(pdb["spec"]["selector"]["matchLabels"], lab) for lab in labels), name
        for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
            ref = hpa["spec"]["scaleTargetRef"]
            named(objects, ref["kind"], ref["name"])
        config_maps = {o["metadata"]["name"] for o in of_kind(objects, "ConfigMap")}
        for _, template in pod_specs(objects):
            for volume in template["spec"].get("volumes", []):
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in config_maps, (name, volume)
                if "secret" in volume:
                    assert volume["secret"]["secretName"] in OPERATOR_SECRETS, (name, volume)
            for c in template["spec"]["containers"]:
                for env in c.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["name"] in OPERATOR_SECRETS and ref.get("optional") is True, (name, env)


def test_every_api_pod_enforces_keys(rendered) -> None:
    """Safe by default (docs/security.md): no overlay runs the API open; every one mounts the
    hashed keys, and the base settings hold no insecure_no_auth."""
    import tomllib

    assert "insecure_no_auth" not in tomllib.loads((K8S / "base" / "imagesearch.toml").read_text())
    for name, objects in rendered.items():
        for _, template in pod_specs(objects):
            for c in template["spec"]["containers"]:
                if c["name"] != "api":
                    continue
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                assert env.get("IMAGESEARCH_API_KEYS_FILE") == "/etc/imagesearch/api-keys/api-keys", name
                assert "IMAGESEARCH_INSECURE_NO_AUTH" not in env, name
                mounts = [m["mountPath"] for m in c["volumeMounts"]]
                assert mounts.count("/etc/imagesearch/api-keys") == 1, name  # once, with the component added twice
            volumes = [v["name"] for v in template["spec"].get("volumes", [])]
            assert len(volumes) == len(set(volumes)), (name, volumes)


def test_environment_names_real_settings(rendered) -> None:
    """A typo in IMAGESEARCH_* would be ignored by the server: every name must be a setting."""
    settings = {f.name.upper() for f in dataclasses.fields(Settings)}
    for name, objects in rendered.items():
        for _, template in pod_specs(objects):
            for c in template["spec"]["containers"]:
                for env in c.get("env", []):
                    if env["name"].startswith(ENV_PREFIX):
                        key = env["name"][len(ENV_PREFIX):]
                        assert key in settings | PENDING_SETTINGS, (name, env["name"])


def _ingress_peers(objects: list[dict], pod_labels: dict[str, str], port: int) -> list[list[dict]] | None:
    """The `from` lists that open `port` on pods with these labels; None if no policy selects them."""
    policies = [p for p in of_kind(objects, "NetworkPolicy") if selects(p["spec"]["podSelector"].get("matchLabels", {}), pod_labels)]
    if not any("Ingress" in p["spec"]["policyTypes"] for p in policies):
        return None
    peers = []
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports is None or any(p["port"] == port for p in ports):
                peers.append(rule.get("from", [{"anywhere": True}]))
    return peers


def test_only_the_api_reaches_triton_and_qdrant(rendered) -> None:
    for name in ("scale-out", "scale-out-gpu"):
        objects = rendered[name]
        for workload, port in (("triton", 8001), ("qdrant", 6334), ("qdrant", 6333)):
            template = next(t for w, t in pod_specs(objects) if w["metadata"]["name"] == workload)
            peers = _ingress_peers(objects, template["metadata"]["labels"], port)
            assert peers, f"{name}: no NetworkPolicy opens or closes {workload}:{port}"
            for sources in peers:
                assert all(set(s) == {"podSelector"} and s["podSelector"]["matchLabels"] == API for s in sources), (
                    name, workload, port, sources)
        # Qdrant's peer port: from Qdrant pods only.
        for sources in _ingress_peers(objects, {"app.kubernetes.io/name": "qdrant"}, 6335):
            assert sources == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "qdrant"}}}]
    # single-node: Triton shares the API's pod; its port 8001 is opened by no policy.
    objects = rendered["single-node"]
    assert _ingress_peers(objects, {**API, "app.kubernetes.io/part-of": "imagesearch"}, 8001) == []


def test_overlay_shapes(rendered) -> None:
    single = rendered["single-node"]
    (sts,) = of_kind(single, "StatefulSet")
    assert sts["spec"]["replicas"] == 1 and not of_kind(single, "Deployment")
    assert [c["name"] for c in sts["spec"]["template"]["spec"]["containers"]] == ["api", "triton"]
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    scale = rendered["scale-out"]
    assert named(scale, "Deployment", "imagesearch")["spec"]["replicas"] >= 2
    assert named(scale, "Deployment", "triton")["spec"]["replicas"] >= 2
    assert named(scale, "Service", "triton-headless")["spec"]["clusterIP"] == "None"
    qdrant = named(scale, "StatefulSet", "qdrant")
    assert qdrant["spec"]["replicas"] >= 3
    assert {"p2p": 6335} == {p["name"]: p["containerPort"] for p in qdrant["spec"]["template"]["spec"]["containers"][0]["ports"] if p["name"] == "p2p"}
    api_env = {e["name"]: e.get("value") for e in named(scale, "Deployment", "imagesearch")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert api_env["IMAGESEARCH_TRITON_URL"].startswith("dns:///triton-headless")
    gpu = named(rendered["scale-out-gpu"], "Deployment", "triton")["spec"]["template"]["spec"]["containers"][0]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in str(named(scale, "Deployment", "triton"))
