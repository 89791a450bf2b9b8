"""The deployment files agree with the code they deploy.

Every YAML document under deploy/ and the Dockerfile are parsed; nothing is
built or applied. What a typo there would otherwise cost is a failed rollout
(a probe on a route that does not exist, a variable Settings ignores, a Service
with no pods) found in a cluster instead of here.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from starlette.routing import Match

from interlock.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
API = "interlock-api"  # the API's Deployment (and HPA, PDB, Service); its container is "api"
WORKLOADS = ("Deployment", "StatefulSet")


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                found.append((path.relative_to(ROOT), doc))
    return found


DOCS = _documents()


def _all(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in DOCS if doc.get("kind") == kind]


def _one(kind: str, name: str) -> dict[str, Any]:
    matches = [doc for doc in _all(kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, (
        f"expected one {kind} named {name!r} under deploy/, found {len(matches)}"
    )
    return matches[0]


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    return containers


def _api_container() -> dict[str, Any]:
    containers = [c for c in _containers(_one("Deployment", API)) if c["name"] == "api"]
    assert len(containers) == 1, f"Deployment {API} has no container named 'api'"
    return containers[0]


def _data(doc: dict[str, Any]) -> dict[str, str]:
    """A ConfigMap's or Secret's keys and values (Secret ``data`` is base64)."""
    values = {k: str(v) for k, v in (doc.get("stringData") or {}).items()}
    for key, value in (doc.get("data") or {}).items():
        values[key] = base64.b64decode(value).decode() if doc["kind"] == "Secret" else str(value)
    return values


def _api_environment() -> dict[str, tuple[str | None, str]]:
    """Every variable the API container gets: name -> (literal value or None, where from)."""
    container = _api_container()
    found: dict[str, tuple[str | None, str]] = {}
    for source in container.get("envFrom", []):
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key in source:
                name = source[key]["name"]
                for var, value in _data(_one(kind, name)).items():
                    found[source.get("prefix", "") + var] = (value, f"{kind} {name}")
    for var in container.get("env", []):  # env wins over envFrom, as in Kubernetes
        found[var["name"]] = (var.get("value"), f"Deployment {API} env")
    return found


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    lines = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    text = text.replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return instructions


def _image_command() -> list[str]:
    commands = [json.loads(args) for word, args in _dockerfile_instructions() if word == "CMD"]
    assert commands, "deploy/Dockerfile has no CMD"
    command: list[str] = commands[-1]  # the runtime stage's
    return command


def _option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


@pytest.fixture
def clean_settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No INTERLOCK_* variable, .env or interlock.toml of the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_every_document_has_api_version_kind_and_name() -> None:
    assert len(DOCS) > 10, "the manifests under deploy/ were not found"
    for path, doc in DOCS:
        what = f"{path}: {doc.get('kind', '?')} {doc.get('metadata', {}).get('name', '?')}"
        assert doc.get("apiVersion"), f"{what} has no apiVersion"
        assert doc.get("kind"), f"{what} has no kind"
        assert (doc.get("metadata") or {}).get("name"), f"{what} has no metadata.name"


def test_each_kustomization_lists_the_manifests_beside_it() -> None:
    """Placeholder Secrets (*.example.yaml) must stay out: applied, they would replace real ones."""
    kustomizations = sorted(DEPLOY.rglob("kustomization.yaml"))
    assert kustomizations
    for path in kustomizations:
        listed = set(yaml.safe_load(path.read_text(encoding="utf-8"))["resources"])
        here = {p.name for p in path.parent.glob("*.yaml")} - {path.name}
        expected = {name for name in here if not name.endswith(".example.yaml")}
        assert listed == expected, f"{path.relative_to(ROOT)} lists {sorted(listed)}"


def test_api_settings_variables_are_settings_fields() -> None:
    env = _api_environment()
    ours = {name: origin for name, (_, origin) in env.items() if name.startswith(ENV_PREFIX)}
    assert ours, "the API container gets no INTERLOCK_* variable at all"
    unknown = [
        f"{name} (from {origin}) is not a field of interlock.config.Settings"
        for name, origin in sorted(ours.items())
        if name.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields
    ]
    assert not unknown, "\n".join(unknown)


def test_api_settings_values_are_valid(clean_settings_env: pytest.MonkeyPatch) -> None:
    for name, (value, _) in _api_environment().items():
        if name.startswith(ENV_PREFIX) and value is not None:
            clean_settings_env.setenv(name, value)
    Settings.load()  # ConfigError names each bad variable


def test_probe_paths_are_get_routes_of_the_app(clean_settings_env: pytest.MonkeyPatch) -> None:
    from interlock.server.app import create_app

    app = create_app()  # builds without connecting to anything; the lifespan is not run

    def is_get_route(path: str) -> bool:
        # Ask the routes themselves (FastAPI may keep included routers as one entry each).
        scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
        return any(route.matches(scope)[0] == Match.FULL for route in app.routes)

    container = _api_container()
    probes = {k: container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for kind, probe in probes.items():
        path = probe["httpGet"]["path"]
        assert is_get_route(path), f"{API} {kind} GET {path}: the app has no such route"
    healthchecks = [args for word, args in _dockerfile_instructions() if word == "HEALTHCHECK"]
    assert len(healthchecks) == 1, "deploy/Dockerfile needs one HEALTHCHECK"
    path = urlparse(re.search(r"http://[^'\" ]+", healthchecks[0]).group()).path  # type: ignore[union-attr]
    assert is_get_route(path), f"Dockerfile HEALTHCHECK GET {path}: the app has no such route"


def test_dockerfile_cmd_runs_an_importable_app_factory(
    clean_settings_env: pytest.MonkeyPatch,
) -> None:
    argv = _image_command()
    assert argv[0] == "uvicorn" and "--factory" in argv, argv
    # uvicorn takes --workers from WEB_CONCURRENCY unless the command fixes it.
    assert "--workers" not in argv
    assert _api_environment()["WEB_CONCURRENCY"][0], "the API Deployment sets no WEB_CONCURRENCY"
    targets = [arg for arg in argv[1:] if re.fullmatch(r"[\w.]+:\w+", arg)]
    assert len(targets) == 1, f"no module:attribute app factory in {argv}"
    module, _, attribute = targets[0].partition(":")
    factory = getattr(importlib.import_module(module), attribute)
    app = factory()  # what uvicorn --factory does in each worker
    assert callable(app), f"{targets[0]}() returned {app!r}, not an ASGI app"


def test_image_installs_the_embedded_extra_except_llama_cpp() -> None:
    """The image's run-time extras are pyproject's [embedded] minus the embedded model server."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    embedded = pyproject["project"]["optional-dependencies"]["embedded"]
    expected = {req for req in embedded if not req.startswith("llama-cpp")}
    installs = [args for word, args in _dockerfile_instructions() if "pip install /src" in args]
    assert len(installs) == 1, "deploy/Dockerfile: expected one `pip install /src ...`"
    assert set(re.findall(r'"([^"]+)"', installs[0])) == expected


def test_entrypoint_empties_the_multiprocess_dir(tmp_path: Path) -> None:
    metrics = tmp_path / "prom"
    metrics.mkdir()
    (metrics / "gauge_livesum_123.db").write_bytes(b"stale")
    done = subprocess.run(
        [
            "sh",
            str(DEPLOY / "docker-entrypoint.sh"),
            "sh",
            "-c",
            'ls -A "$PROMETHEUS_MULTIPROC_DIR"',
        ],
        env={"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "" and metrics.is_dir()


def test_entrypoint_stops_on_a_bad_setting_before_uvicorn(tmp_path: Path) -> None:
    """uvicorn would restart failing workers forever; the container must exit instead."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        f"{ENV_PREFIX}MAX_QUESTION_CHARS": "0",
    }
    done = subprocess.run(
        ["sh", str(DEPLOY / "docker-entrypoint.sh"), "uvicorn", "--version"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "uvicorn" not in done.stdout.lower(), done.stdout
    assert f"{ENV_PREFIX}MAX_QUESTION_CHARS" in done.stderr


def test_api_pod_is_non_root_read_only_with_writable_tmp_and_metrics_dir() -> None:
    pod = _one("Deployment", API)["spec"]["template"]["spec"]
    container = _api_container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    multiproc = _api_environment()["PROMETHEUS_MULTIPROC_DIR"][0]
    for path in ("/tmp", multiproc):
        assert path in mounts and "emptyDir" in mounts[path], f"{path} is not an emptyDir mount"


def test_termination_grace_outlasts_the_longest_request() -> None:
    request_timeout = float(
        _api_environment().get(f"{ENV_PREFIX}REQUEST_TIMEOUT_S", (None, ""))[0]
        or Settings.model_fields["request_timeout_s"].default
    )
    graceful = float(_option(_image_command(), "--timeout-graceful-shutdown"))
    pre_stop = _api_container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = _one("Deployment", API)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert graceful >= request_timeout, "uvicorn would cut runs short at shutdown"
    assert float(pre_stop[1]) + graceful < grace, "SIGKILL would come before uvicorn's own limit"


def test_hpa_scales_the_api_deployment() -> None:
    hpas = _all("HorizontalPodAutoscaler")
    assert hpas
    for hpa in hpas:
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", API), target
        metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
        assert metrics["Resource"]["resource"]["name"] == "cpu"
        assert metrics["Pods"]["pods"]["metric"]["name"] == "interlock_inflight_runs"
    # A replica count in the Deployment would reset the HPA's on every apply.
    assert "replicas" not in _one("Deployment", API)["spec"]


def test_selectors_match_the_pods_of_exactly_one_workload() -> None:
    workloads = [doc for kind in WORKLOADS for doc in _all(kind)]
    for workload in workloads:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        match = workload["spec"]["selector"]["matchLabels"]
        assert match.items() <= labels.items(), f"{workload['metadata']['name']}: selector"
    selectors = [
        (f"Service {s['metadata']['name']}", s["spec"]["selector"]) for s in _all("Service")
    ]
    selectors += [
        (f"PodDisruptionBudget {p['metadata']['name']}", p["spec"]["selector"]["matchLabels"])
        for p in _all("PodDisruptionBudget")
    ]
    for what, selector in selectors:
        assert selector, f"{what} selects nothing"
        chosen = [
            w["metadata"]["name"]
            for w in workloads
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        # One each: a vLLM Service spanning replicas would hide them from interlock's balancer.
        assert len(chosen) == 1, f"{what} selects the pods of {chosen}"


def _vllm_deployments() -> list[dict[str, Any]]:
    return [
        d
        for d in _all("Deployment")
        if any(c["image"].startswith("vllm/vllm-openai") for c in _containers(d))
    ]


def test_vllm_replicas() -> None:
    deployments = _vllm_deployments()
    assert deployments
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        (container,) = _containers(deployment)
        assert container["readinessProbe"]["httpGet"]["path"] == "/health", f"{name}: readiness"
        assert "--enable-prefix-caching" in container["args"], f"{name}: prefix caching off"
        assert str(container["resources"]["limits"]["nvidia.com/gpu"]) == "1", f"{name}: GPU"
        assert deployment["spec"].get("replicas", 1) == 1, f"{name}: one Deployment per replica"


@pytest.mark.parametrize("tier", ["small", "large"])
def test_model_urls_list_every_replica_of_the_tier(tier: str) -> None:
    env = {name: value for name, (value, _) in _api_environment().items()}
    urls = (env[f"{ENV_PREFIX}{tier.upper()}_MODEL_URLS"] or "").split(",")
    services = {s["metadata"]["name"]: s for s in _all("Service")}
    by_pod_labels = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in _vllm_deployments()
    }
    listed = []
    for url in urls:
        parsed = urlparse(url.strip())
        assert parsed.path.rstrip("/") == "/v1", f"{url}: must end in /v1"
        service = services.get((parsed.hostname or "").split(".")[0])
        assert service, f"{url}: no Service of that name under deploy/"
        assert parsed.port in {p["port"] for p in service["spec"]["ports"]}, f"{url}: port"
        (deployment,) = [
            name
            for name, labels in by_pod_labels.items()
            if service["spec"]["selector"].items() <= labels.items()
        ]
        listed.append(deployment)
        (container,) = _containers(_one("Deployment", deployment))
        args = container["args"]
        assert _option(args, "--served-model-name") == env[f"{ENV_PREFIX}{tier.upper()}_MODEL_NAME"]
        window = env.get(f"{ENV_PREFIX}{tier.upper()}_CONTEXT_WINDOW")
        assert _option(args, "--max-model-len") == window, f"{deployment}: context window"
    tier_replicas = [
        name
        for name, labels in by_pod_labels.items()
        if labels.get("app.kubernetes.io/component") == f"vllm-{tier}"
    ]
    assert sorted(listed) == sorted(tier_replicas), f"{tier} tier URLs name {listed}"
