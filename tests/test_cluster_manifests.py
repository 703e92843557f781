"""The files under cluster/: every YAML parses and says what the cluster needs.

Nothing here starts Ray or talks to a cluster: the KubeRay objects are checked against the field names of
KubeRay v1.6's ray.io/v1 types (ray-operator/apis/ray/v1/*_types.go), the launcher files against the
installed Ray's own schema (ray/autoscaler/ray-schema.json), the runtime env against Ray's RuntimeEnv and
its exclude matcher, the MLflow server's --allowed-hosts against MLflow's own host check, and local.sh is
run only with arguments that start nothing (plus a stop of stand-in processes that this test starts).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
KUBERAY = CLUSTER / "kuberay"
LOCAL_SH = CLUSTER / "local.sh"

EXPECTED_FILES = [
    "local.sh",
    "runtime_env.yaml",
    "Dockerfile",
    "aws.yaml",
    "gcp.yaml",
    "namespace.yaml",
    "kuberay/raycluster.yaml",
    "kuberay/rayjob-barlow.yaml",
    "kuberay/raycronjob-nightly.yaml",
    "kuberay/cronjob-fallback.yaml",
    "kuberay/operator-values.yaml",
    "kuberay/sslsweep-env.yaml",
    "mlflow/mlflow.yaml",
    "README.md",
]
FEATURE_GATE = "RayCronJob"

# json field names of KubeRay v1.6 (ray-operator/apis/ray/v1/rayjob_types.go, raycluster_types.go,
# raycronjob_types.go): a misspelt field would be dropped by the API server without a word.
RAYJOB_SPEC_FIELDS = {
    "activeDeadlineSeconds",
    "backoffLimit",
    "rayClusterSpec",
    "submitterPodTemplate",
    "metadata",
    "clusterSelector",
    "submitterConfig",
    "managedBy",
    "deletionStrategy",
    "entrypoint",
    "runtimeEnvYAML",
    "jobId",
    "submissionMode",
    "entrypointResources",
    "entrypointNumCpus",
    "entrypointNumGpus",
    "ttlSecondsAfterFinished",
    "preRunningDeadlineSeconds",
    "shutdownAfterJobFinishes",
    "suspend",
}
RAYCLUSTER_SPEC_FIELDS = {
    "upgradeStrategy",
    "authOptions",
    "suspend",
    "managedBy",
    "autoscalerOptions",
    "headServiceAnnotations",
    "enableInTreeAutoscaling",
    "gcsFaultToleranceOptions",
    "headGroupSpec",
    "rayVersion",
    "workerGroupSpecs",
}
HEAD_GROUP_FIELDS = {"template", "headService", "enableIngress", "resources", "labels", "rayStartParams", "serviceType"}
WORKER_GROUP_FIELDS = {
    "suspend",
    "groupName",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "idleTimeoutSeconds",
    "resources",
    "labels",
    "rayStartParams",
    "template",
    "scaleStrategy",
    "numOfHosts",
}
RAYCRONJOB_SPEC_FIELDS = {"jobTemplate", "schedule", "suspend"}  # timeZone arrives in KubeRay 1.7
TUNE_COMMAND = re.compile(r"python\s+tune\.py\s+(?:(nightly)\s+)?(\S+)")


# ---------------------------------------------------------------------------------------------- helpers


def yaml_files() -> list[Path]:
    return sorted(p for p in CLUSTER.rglob("*") if p.suffix in (".yaml", ".yml"))


def load_docs(path: Path) -> list[dict]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def embedded_docs(doc: dict) -> list[dict]:
    """Manifests held as text in a ConfigMap (the fallback CronJob's RayJob)."""
    if doc.get("kind") != "ConfigMap":
        return []
    out = []
    for key, text in (doc.get("data") or {}).items():
        if key.endswith((".yaml", ".yml")):
            out += [d for d in yaml.safe_load_all(text) if d is not None]
    return out


def all_docs() -> list[tuple[Path, dict]]:
    out = []
    for path in yaml_files():
        for doc in load_docs(path):
            out.append((path, doc))
            out += [(path, inner) for inner in embedded_docs(doc)]
    return out


def kuberay_objects(kind: str) -> list[tuple[Path, dict]]:
    return [(p, d) for p, d in all_docs() if isinstance(d, dict) and d.get("kind") == kind]


def strings_in(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings_in(v)]
    return []


def images_in(node) -> list[str]:
    """Values of every image / head_image / worker_image key, at any depth."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("image", "head_image", "worker_image") and isinstance(value, str):
                found.append(value)
            else:
                found += images_in(value)
    elif isinstance(node, list):
        for value in node:
            found += images_in(value)
    return found


def dockerfile_args() -> dict[str, str]:
    text = (CLUSTER / "Dockerfile").read_text()
    return dict(re.findall(r"^ARG\s+(\w+)=(\S*)", text, flags=re.M))


def ray_version() -> str:
    version = dockerfile_args().get("RAY_VERSION")
    assert version, "cluster/Dockerfile must record the Ray version as ARG RAY_VERSION=<x.y.z>"
    return version


def pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def ray_requirement() -> Requirement:
    reqs = [Requirement(r) for r in pyproject()["project"]["dependencies"]]
    (ray_req,) = [r for r in reqs if r.name == "ray"]
    return ray_req


def cluster_specs() -> list[tuple[str, dict]]:
    """Every RayCluster spec: RayClusters, RayJobs' rayClusterSpec, RayCronJobs' jobTemplate's."""
    specs = [(f"{p.name}:RayCluster", d["spec"]) for p, d in kuberay_objects("RayCluster")]
    specs += [(f"{p.name}:RayJob", d["spec"]["rayClusterSpec"]) for p, d in kuberay_objects("RayJob")]
    specs += [
        (f"{p.name}:RayCronJob", d["spec"]["jobTemplate"]["rayClusterSpec"]) for p, d in kuberay_objects("RayCronJob")
    ]
    return specs


def job_specs() -> list[tuple[str, dict]]:
    specs = [(f"{p.name}:RayJob", d["spec"]) for p, d in kuberay_objects("RayJob")]
    specs += [(f"{p.name}:RayCronJob", d["spec"]["jobTemplate"]) for p, d in kuberay_objects("RayCronJob")]
    return specs


def containers(pod_spec: dict) -> list[dict]:
    return list(pod_spec.get("containers") or [])


def ray_excludes_matcher(patterns: list[str]):
    from ray._private.thirdparty.pathspec import PathSpec  # the matcher Ray applies to runtime_env excludes

    spec = PathSpec.from_lines("gitwildmatch", patterns)
    return spec.match_file


def project_source_files() -> list[str]:
    """What a job needs from the working tree: the library, the glue, the command, search spaces, schedules."""
    files = ["tune.py", "pyproject.toml"]
    for folder in ("ssl", "trainables", "searchspaces", "schedules"):
        files += [
            str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ]
    return files


# ----------------------------------------------------------------------------------------- every file


def test_cluster_files_exist_and_every_yaml_parses():
    missing = [name for name in EXPECTED_FILES if not (CLUSTER / name).is_file()]
    assert not missing, f"missing under cluster/: {missing}"
    for path in yaml_files():
        docs = load_docs(path)
        assert docs, f"{path} holds no YAML document"
        for doc in docs:
            assert isinstance(doc, dict), f"{path}: a document is not a mapping"
            for inner in embedded_docs(doc):
                assert isinstance(inner, dict)


# -------------------------------------------------------------------------------------------- KubeRay


def test_kuberay_objects_have_ray_io_v1_kinds_and_known_fields():
    kinds = {}
    for path, doc in all_docs():
        if str(doc.get("apiVersion", "")).startswith("ray.io/"):
            assert doc["apiVersion"] == "ray.io/v1", f"{path}: {doc['kind']} must be ray.io/v1"
            kinds.setdefault(doc["kind"], []).append(path.name)
    assert kinds.get("RayCluster") == ["raycluster.yaml"], kinds
    assert "rayjob-barlow.yaml" in kinds.get("RayJob", []), kinds
    assert "cronjob-fallback.yaml" in kinds.get("RayJob", []), "the fallback's ConfigMap must hold a RayJob"
    assert kinds.get("RayCronJob") == ["raycronjob-nightly.yaml"], kinds
    assert set(kinds) == {"RayCluster", "RayJob", "RayCronJob"}, kinds

    for _, doc in kuberay_objects("RayCluster"):
        assert set(doc["spec"]) <= RAYCLUSTER_SPEC_FIELDS, set(doc["spec"]) - RAYCLUSTER_SPEC_FIELDS
    for name, spec in job_specs():
        assert set(spec) <= RAYJOB_SPEC_FIELDS, f"{name}: unknown fields {set(spec) - RAYJOB_SPEC_FIELDS}"
    for path, doc in kuberay_objects("RayCronJob"):
        assert set(doc["spec"]) <= RAYCRONJOB_SPEC_FIELDS, set(doc["spec"]) - RAYCRONJOB_SPEC_FIELDS
        assert len(doc["spec"]["schedule"].split()) == 5, "a standard 5-field cron schedule"
    for name, spec in cluster_specs():
        assert set(spec) <= RAYCLUSTER_SPEC_FIELDS, f"{name}: unknown fields {set(spec) - RAYCLUSTER_SPEC_FIELDS}"
        assert set(spec["headGroupSpec"]) <= HEAD_GROUP_FIELDS, name
        for group in spec["workerGroupSpecs"]:
            assert set(group) <= WORKER_GROUP_FIELDS, f"{name}: {set(group) - WORKER_GROUP_FIELDS}"


def test_ray_clusters_have_token_auth_a_head_and_a_gpu_worker_group():
    specs = cluster_specs()
    assert len(specs) >= 4  # RayCluster, RayJob, RayCronJob, the fallback's RayJob
    for name, spec in specs:
        # KubeRay refuses authOptions.mode=token below Ray 2.52 (validation.go); Ray 2.60 enables token
        # auth on `ray start --head`, so the submitter must get the token: authOptions does that.
        assert spec.get("authOptions", {}).get("mode") == "token", name
        assert Version(spec["rayVersion"]) >= Version("2.52.0"), name
        head = containers(spec["headGroupSpec"]["template"]["spec"])
        assert head and head[0].get("workingDir") == "/home/ray/sslsweep", (
            f"{name}: the head's workingDir is where `python tune.py` runs (the image's WORKDIR)"
        )
        gpu_groups = [
            g
            for g in spec["workerGroupSpecs"]
            if any(
                "nvidia.com/gpu" in (c.get("resources", {}).get("limits") or {})
                for c in containers(g["template"]["spec"])
            )
        ]
        assert gpu_groups, f"{name}: a worker group with an nvidia.com/gpu limit"
        for group in spec["workerGroupSpecs"]:
            assert group["minReplicas"] <= group.get("replicas", group["minReplicas"]) <= group["maxReplicas"], name
        for pod in [spec["headGroupSpec"]] + spec["workerGroupSpecs"]:
            pod_spec = pod["template"]["spec"]
            assert pod_spec.get("securityContext", {}).get("runAsNonRoot") is True, name
            refs = [
                src.get("configMapRef", src.get("secretRef", {})).get("name")
                for c in containers(pod_spec)
                for src in c.get("envFrom", [])
            ]
            assert {"sslsweep-env", "sslsweep-stores"} <= set(refs), f"{name}: the store settings reach every pod"


def test_rayjobs_shut_their_cluster_down_after_the_job():
    for name, spec in job_specs():
        assert spec["shutdownAfterJobFinishes"] is True, name
        assert isinstance(spec["ttlSecondsAfterFinished"], int) and spec["ttlSecondsAfterFinished"] > 0, name
        assert spec.get("submissionMode", "K8sJobMode") in (
            "K8sJobMode",
            "HTTPMode",
            "InteractiveMode",
            "SidecarMode",
        ), name
        assert spec["entrypoint"].startswith("python tune.py "), name
    entrypoints = {spec["entrypoint"] for _, spec in job_specs()}
    assert "python tune.py searchspaces/barlow.yaml" in entrypoints
    assert "python tune.py nightly schedules/nightly.yaml" in entrypoints


def test_raycronjob_names_its_feature_gate_in_a_comment_the_operator_values_and_the_readme():
    text = (KUBERAY / "raycronjob-nightly.yaml").read_text()
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    assert f"--feature-gates={FEATURE_GATE}=true" in comments
    assert "alpha" in comments.lower()
    values = load_docs(KUBERAY / "operator-values.yaml")[0]
    gates = {g["name"]: g["enabled"] for g in values["featureGates"]}
    assert gates.get(FEATURE_GATE) is True, gates
    readme = (CLUSTER / "README.md").read_text()
    assert f"--feature-gates={FEATURE_GATE}=true" in readme and "operator-values.yaml" in readme


def test_fallback_cronjob_creates_the_rayjob_with_only_the_rights_it_needs():
    docs = {d["kind"]: d for d in load_docs(KUBERAY / "cronjob-fallback.yaml")}
    assert {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "CronJob"} <= set(docs)
    assert docs["CronJob"]["apiVersion"] == "batch/v1"
    for kind in ("Role", "RoleBinding"):
        assert docs[kind]["apiVersion"] == "rbac.authorization.k8s.io/v1"

    rules = docs["Role"]["rules"]
    assert all(r["apiGroups"] == ["ray.io"] and r["resources"] == ["rayjobs"] for r in rules), rules
    verbs = {v for r in rules for v in r["verbs"]}
    assert "create" in verbs and not verbs & {"*", "delete", "deletecollection", "update", "patch", "escalate"}

    binding, sa, cron = docs["RoleBinding"], docs["ServiceAccount"], docs["CronJob"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": docs["Role"]["metadata"]["name"],
    }
    assert {
        "kind": "ServiceAccount",
        "name": sa["metadata"]["name"],
        "namespace": sa["metadata"]["namespace"],
    } in binding["subjects"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")

    # The pod runs `kubectl create -f <file>` on the mounted ConfigMap key that holds the RayJob
    # (create, not apply: the RayJob uses generateName, one new RayJob per night).
    (container,) = containers(pod)
    argv = container["command"] + container.get("args", [])
    assert argv[0].endswith("kubectl") and argv[1] == "create" and argv[2] == "-f"
    mount = next(m for m in container["volumeMounts"] if argv[3].startswith(m["mountPath"].rstrip("/") + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    key = argv[3][len(mount["mountPath"].rstrip("/")) + 1 :]
    (rayjob,) = yaml.safe_load_all(docs["ConfigMap"]["data"][key])
    assert rayjob["kind"] == "RayJob" and rayjob["metadata"]["generateName"]
    assert rayjob["metadata"]["namespace"] == sa["metadata"]["namespace"]

    cronjob_nightly = kuberay_objects("RayCronJob")[0][1]
    assert rayjob["spec"] == cronjob_nightly["spec"]["jobTemplate"], (
        "the fallback runs the same RayJob as the RayCronJob"
    )
    assert cron["spec"]["schedule"] == cronjob_nightly["spec"]["schedule"]


def test_namespaced_objects_live_in_the_sslsweep_namespace():
    (ns,) = load_docs(CLUSTER / "namespace.yaml")
    assert ns["kind"] == "Namespace"
    for path, doc in all_docs():
        if "apiVersion" not in doc or doc["kind"] == "Namespace" or path.parent == CLUSTER:
            continue  # launcher files, the runtime env and operator values are not Kubernetes objects
        assert doc["metadata"].get("namespace") == ns["metadata"]["name"], f"{path}: {doc['kind']}"


# ------------------------------------------------------------------------------ search spaces named


def test_every_tune_command_names_an_existing_search_space():
    """Every `python tune.py [nightly] FILE` in cluster/ (entrypoints, commands, comments) names a file
    that exists (search spaces, and the nightly list schedules/nightly.yaml)."""
    found = []
    for path in yaml_files() + [CLUSTER / "Dockerfile", LOCAL_SH, CLUSTER / "README.md"]:
        for nightly, target in TUNE_COMMAND.findall(path.read_text()):
            target = target.rstrip("`'\",;)")
            if not target.endswith((".yaml", ".yml")):
                continue  # `tune.py report ...`, `tune.py --help`
            found.append((path.name, nightly, target))
    assert any(t == "searchspaces/barlow.yaml" for _, _, t in found)
    assert any(n and t == "schedules/nightly.yaml" for _, n, t in found)
    missing = sorted({f"{name}: tune.py {n + ' ' if n else ''}{t}" for name, n, t in found if not (ROOT / t).is_file()})
    assert not missing, f"search-space files that do not exist: {missing}"


# ------------------------------------------------------------------------------------ Ray versions


def test_dockerfile_ray_version_satisfies_the_pyproject_pin():
    version = ray_version()
    pin = ray_requirement()
    assert {"tune", "train"} <= pin.extras
    assert Version(version) in pin.specifier, f"RAY_VERSION {version} does not satisfy {pin}"
    variant = dockerfile_args()["RAY_VARIANT"]
    python = re.match(r"py3(\d+)", variant)
    assert python, variant
    assert Version(f"3.{python.group(1)}") in SpecifierSet(pyproject()["project"]["requires-python"])
    text = (CLUSTER / "Dockerfile").read_text()
    assert re.search(r"^FROM rayproject/ray:\$\{RAY_VERSION\}-\$\{RAY_VARIANT\}\s*$", text, flags=re.M)
    assert '"ray[tune,train,default]==${RAY_VERSION}"' in text, "pip must keep the image's Ray"


def test_every_image_and_ray_pin_carries_the_dockerfile_ray_version():
    version = ray_version()
    variant = dockerfile_args()["RAY_VARIANT"]
    images, pins, ray_versions = [], [], []
    for path, doc in all_docs():
        images += [(path.name, image) for image in images_in(doc)]
        pins += [(path.name, v) for s in strings_in(doc) for v in re.findall(r"ray\[[\w,]+\]==([\w.]+)", s)]
    for name, spec in cluster_specs():
        ray_versions.append((name, spec["rayVersion"]))

    ray_images = [(f, i) for f, i in images if i.startswith("rayproject/ray:")]
    own_images = [(f, i) for f, i in images if re.search(r"(^|/)sslsweep:", i)]
    assert len(ray_images) >= 4 and len(own_images) >= 8, (ray_images, own_images)
    for f, image in ray_images:
        assert image.split(":", 1)[1].split("-")[0] == version, f"{f}: {image} is not Ray {version}"
    for f, image in own_images:
        assert image.split(":", 1)[1] == f"ray{version}-{variant}", f"{f}: {image} (build tag ray{version}-{variant})"
    for name, rv in ray_versions:
        assert rv == version, f"{name}: rayVersion {rv} != {version}"
    assert len(pins) >= 2, "the launcher setup_commands pin Ray"
    for f, pinned in pins:
        assert pinned == version, f"{f}: ray=={pinned} != {version}"
    # any other image is pinned to a version, never :latest
    for f, image in images:
        assert ":" in image and not image.endswith(":latest"), f"{f}: {image}"


# --------------------------------------------------------------------------------------- Dockerfile


def test_dockerfile_installs_the_project_as_a_non_root_user_without_secrets():
    text = (CLUSTER / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    users = [ln.split(None, 1)[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert any(ln.startswith("WORKDIR /") for ln in lines)
    copied = {part for ln in lines if ln.startswith("COPY ") for part in ln.split()[1:] if not part.startswith("--")}
    assert not any(re.match(r"COPY\s+(--\S+\s+)*\.\s", ln) for ln in lines), "copy named paths, not the whole context"
    project = pyproject()
    needed = {
        "pyproject.toml",
        project["project"]["readme"],
        "tune.py",
        "searchspaces",
        "schedules",
        "trainables",
        "ssl",
    }
    assert needed <= copied, f"not copied: {needed - copied}"
    run = " ".join(ln for ln in lines if ln.startswith("RUN ") or not ln.split()[0].isupper())
    assert re.search(r"pip install\b[^&]*\s\.(\s|$)", run), "pip install . (the project and its dependencies)"
    for ln in lines:
        if ln.startswith(("ENV ", "ARG ", "LABEL ")):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY|AWS_)", ln, flags=re.I), ln
    ignore = (CLUSTER / "Dockerfile.dockerignore").read_text().split()
    assert ".git" in ignore


# ------------------------------------------------------------------------------------------- MLflow


def _mlflow_deployment_and_service():
    docs = load_docs(CLUSTER / "mlflow" / "mlflow.yaml")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (service,) = [d for d in docs if d["kind"] == "Service"]
    return deployment, service


def _server_args(container: dict) -> dict[str, str]:
    argv = container["command"] + container["args"]
    assert argv[:2] == ["mlflow", "server"], argv
    args = {}
    for arg in argv[2:]:
        key, _, value = arg.partition("=")
        args[key] = value
    return args


def test_mlflow_server_args_env_and_service():
    deployment, service = _mlflow_deployment_and_service()
    assert deployment["apiVersion"] == "apps/v1" and service["apiVersion"] == "v1"
    (container,) = containers(deployment["spec"]["template"]["spec"])
    args = _server_args(container)
    assert "--allowed-hosts" in args and args["--allowed-hosts"]
    assert args["--host"] == "0.0.0.0"  # inside the pod only ...
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"  # ... reached through a ClusterIP Service
    assert args["--artifacts-destination"].startswith("s3://")
    assert "--backend-store-uri" not in args, "the database URI (with its password) comes from a Secret"
    env = {e["name"]: e for e in container["env"]}
    assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"]["name"]
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"].startswith("http")
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    port = service["spec"]["ports"][0]["port"]
    assert args["--port"] == str(port) == str(container["ports"][0]["containerPort"])

    # The Ray pods' MLFLOW_TRACKING_URI names this Service.
    (env_cm,) = load_docs(KUBERAY / "sslsweep-env.yaml")
    name, ns = service["metadata"]["name"], service["metadata"]["namespace"]
    assert env_cm["data"]["MLFLOW_TRACKING_URI"] == f"http://{name}.{ns}.svc:{port}"


def test_mlflow_allowed_hosts_admit_the_service_names_and_reject_others():
    from mlflow.server.security_utils import is_allowed_host_header  # MLflow's own Host-header check

    deployment, service = _mlflow_deployment_and_service()
    allowed = [
        h.strip()
        for h in _server_args(containers(deployment["spec"]["template"]["spec"])[0])["--allowed-hosts"].split(",")
    ]
    assert "*" not in allowed
    name, ns = service["metadata"]["name"], service["metadata"]["namespace"]
    port = service["spec"]["ports"][0]["port"]
    for host in (
        f"{name}:{port}",
        f"{name}.{ns}:{port}",
        f"{name}.{ns}.svc:{port}",
        f"{name}.{ns}.svc.cluster.local:{port}",
        f"localhost:{port}",
        f"127.0.0.1:{port}",
    ):
        assert is_allowed_host_header(allowed, host), host
    for host in ("evil.example.com", f"evil.example.com:{port}", f"{name}.other-namespace.svc:{port}"):
        assert not is_allowed_host_header(allowed, host), host


def _pod_templates(node) -> list[dict]:
    """Every pod template (``{metadata, spec: {containers}}``) anywhere in ``node``."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("spec"), dict) and "containers" in node["spec"] and "metadata" in node:
            found.append(node)
        for value in node.values():
            found += _pod_templates(value)
    elif isinstance(node, list):
        for value in node:
            found += _pod_templates(value)
    return found


def test_mlflow_server_asks_for_credentials_and_admits_only_sslsweep_pods():
    deployment, _ = _mlflow_deployment_and_service()
    pod = deployment["spec"]["template"]
    (container,) = containers(pod["spec"])
    assert _server_args(container)["--app-name"] == "basic-auth"
    env = {e["name"]: e for e in container["env"]}
    for name, key in (
        ("MLFLOW_AUTH_ADMIN_PASSWORD", "admin-password"),
        ("MLFLOW_FLASK_SERVER_SECRET_KEY", "flask-secret-key"),
    ):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-auth", "key": key}
    # The auth settings (their user database URI holds a password) come from the Secret, mounted read-only.
    config = Path(env["MLFLOW_AUTH_CONFIG_PATH"]["value"])
    (mount,) = [m for m in container["volumeMounts"] if config.is_relative_to(m["mountPath"])]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    assert mount.get("readOnly") is True and volume["secret"]["secretName"] == "mlflow-auth"
    assert [item["path"] for item in volume["secret"]["items"]] == [str(config.relative_to(mount["mountPath"]))]

    (policy,) = [d for d in load_docs(CLUSTER / "mlflow" / "mlflow.yaml") if d["kind"] == "NetworkPolicy"]
    assert policy["apiVersion"] == "networking.k8s.io/v1" and policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": int(_server_args(container)["--port"])}]
    (source,) = rule["from"]
    assert set(source) == {"podSelector"}, "only pods of this namespace; no ipBlock, no other namespace"
    admitted = source["podSelector"]["matchLabels"]
    # Every pod that is given the tracking URI (the sslsweep-env ConfigMap) is one the policy admits.
    given_uri = [
        (path, template)
        for path, doc in all_docs()
        for template in _pod_templates(doc)
        if "sslsweep-env" in strings_in(template)
    ]
    assert len(given_uri) >= 4
    for path, template in given_uri:
        assert admitted.items() <= template["metadata"].get("labels", {}).items(), path


def test_the_mlflow_server_arguments_of_the_manifest_refuse_requests_without_credentials(tmp_path, monkeypatch):
    """The manifest's --app-name and auth variables, given to a real ``mlflow server`` here: a request without
    credentials is refused, the admin's is answered, /health (the probes) answers without; a sweep's pre-flight
    refuses wrong credentials in one line and passes the right ones."""
    import requests
    from servers import mlflow_server

    from trainables.sweep.preflight import UnreachableError, check_records_reachable
    from trainables.tracking.stores import resolve_stores

    deployment, _ = _mlflow_deployment_and_service()
    (container,) = containers(deployment["spec"]["template"]["spec"])
    args = _server_args(container)
    env_names = {e["name"] for e in container["env"]}
    config = tmp_path / "basic_auth.ini"
    config.write_text(
        f"[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:///{tmp_path}/auth.db\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    secrets_here = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-admin-password-1",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "flask-key",
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/mlflow.db",
    }
    assert set(secrets_here) <= env_names
    # The manifest's own values (the job runner off: its 8 processes would not fit the pod's memory limit), and
    # the secrets' here; none of this machine's MLflow settings.
    given = {e["name"]: e["value"] for e in container["env"] if "value" in e and e["name"].startswith("MLFLOW_SERVER")}
    assert given == {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | given | secrets_here
    with mlflow_server(tmp_path / "server", env=environment, args=[f"--app-name={args['--app-name']}"]) as url:
        search = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
        assert requests.get(f"{url}/health", timeout=30).status_code == 200
        assert requests.get(search, timeout=30).status_code == 401
        assert requests.get(search, auth=("admin", "wrong"), timeout=30).status_code == 401
        assert requests.get(search, auth=("admin", "a-long-admin-password-1"), timeout=30).status_code == 200
        for name in ("MLFLOW_TRACKING_TOKEN", "SSLSWEEP_OPTUNA_STORAGE", "SSLSWEEP_REPORTS_DIR"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("SSLSWEEP_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
        with pytest.raises(
            UnreachableError,
            match=r"^MLFLOW_TRACKING_URI http://127.0.0.1:\d+: GET "
            r"/api/2.0/mlflow/experiments/search answered HTTP 401: .*"
            r"MLFLOW_TRACKING_USERNAME/PASSWORD",
        ):
            check_records_reachable(resolve_stores())
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "a-long-admin-password-1")
        check_records_reachable(resolve_stores())


def test_no_secret_values_are_committed():
    for path, doc in all_docs():
        if doc.get("kind") == "Secret":
            assert not doc.get("data") and not doc.get("stringData"), f"{path}: a Secret with values"
        for s in strings_in(doc):
            for user_password in re.findall(r"[a-z0-9+]+://([^/@\s]+)@", s):
                password = user_password.partition(":")[2]
                assert password in ("", "PASSWORD"), f"{path}: a credential in {s!r}"


# ------------------------------------------------------------------------------------- runtime env


def test_runtime_env_is_valid_for_ray_and_ships_the_library_but_not_the_stores(monkeypatch):
    from ray.runtime_env import RuntimeEnv

    monkeypatch.chdir(ROOT)  # `ray job submit --runtime-env` resolves its relative paths against the cwd

    (env,) = load_docs(CLUSTER / "runtime_env.yaml")
    RuntimeEnv(**env)  # Ray's own validation of the fields
    assert env["working_dir"] == "."
    for module in env.get("py_modules", []):
        assert (ROOT / module / "__init__.py").is_file(), module
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in env["env_vars"].items())
    text = (CLUSTER / "runtime_env.yaml").read_text()
    for var in ("MLFLOW_TRACKING_URI", "SSLSWEEP_OPTUNA_STORAGE", "SSLSWEEP_RAY_STORAGE"):
        assert var in text, f"{var} is documented in the runtime env"

    excluded = ray_excludes_matcher(env["excludes"])
    for path in (
        ".git/HEAD",
        "reports/barlow/index.html",
        ".venv/bin/python",
        "venv/lib/x.py",
        "sslsweep.egg-info/PKG-INFO",
        "trainables/__pycache__/x.pyc",
        ".pytest_cache/v/x",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/0.1/x",
        ".import_linter_cache/x.json",
        "optuna.db",
        "mlruns/0/meta.yaml",
        "mlartifacts/1/x",
        "data/cifar/x.bin",
    ):
        assert excluded(path), f"{path} would be uploaded with every job"
    shipped = [f for f in project_source_files() if not excluded(f)]
    dropped = sorted(set(project_source_files()) - set(shipped))
    assert not dropped, f"excludes drop project files: {dropped[:10]}"
    assert "ssl/selfsup/data/__init__.py" in shipped


# ------------------------------------------------------------------------------- cluster launcher


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_launcher_config_matches_rays_schema_and_installs_the_project(name):
    import jsonschema
    import ray.autoscaler

    (config,) = load_docs(CLUSTER / name)
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    assert config["provider"]["type"] == name.split(".")[0]

    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    workers = {k: v for k, v in types.items() if k != config["head_node_type"]}
    assert "GPU" not in head["resources"] and "guestAccelerators" not in head["node_config"], "a CPU head"
    if name == "aws.yaml":
        gpu = [w for w in workers.values() if re.match(r"(g|p)\d", w["node_config"]["InstanceType"])]
        assert gpu and all(w["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot" for w in gpu)
        assert not re.match(r"(g|p)\d", head["node_config"]["InstanceType"])
    else:
        gpu = [w for w in workers.values() if w["node_config"].get("guestAccelerators")]
        assert gpu and all({"onHostMaintenance": "TERMINATE"} in w["node_config"]["scheduling"] for w in gpu)
    assert all(w["max_workers"] >= 1 for w in gpu)

    # The working tree is mounted and setup_commands install it (with the Ray pin) on every node.
    mounts = config["file_mounts"]
    (project_dir,) = [remote for remote, local in mounts.items() if local == "."]
    assert project_dir.startswith("/home/ray/")
    install = " ".join(config["setup_commands"])
    assert re.search(r"pip install\b.*(~|/home/ray)/" + re.escape(project_dir.split("/home/ray/")[1]), install)
    excluded = ray_excludes_matcher(config["rsync_exclude"])  # rsync's rules read the same for these
    assert excluded(".git/HEAD") and excluded("data/x") and excluded("optuna.db")
    assert not [f for f in project_source_files() if excluded(f)], "rsync_exclude drops project files"

    # Token authentication: every `ray start` with RAY_AUTH_MODE=token, the token file on every node.
    starts = [c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"] if "ray start" in c]
    assert len(starts) == 2 and all("RAY_AUTH_MODE=token ray start" in " ".join(c.split()) for c in starts)
    assert mounts.get("/home/ray/.ray/auth_token") == "~/.ray/auth_token"


# ------------------------------------------------------------------------------------------ local.sh


def _local_sh(*args, env_extra=None, timeout=60):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(["bash", str(LOCAL_SH), *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_local_sh_is_valid_bash_and_stops_only_what_it_started():
    assert subprocess.run(["bash", "-n", str(LOCAL_SH)], capture_output=True).returncode == 0
    text = LOCAL_SH.read_text()
    assert os.access(LOCAL_SH, os.X_OK), "cluster/local.sh is executable"
    assert re.search(r"^set -E?euo pipefail$", text, flags=re.M)
    assert not re.search(r"\bray\s+stop\b", text), "never `ray stop`: it stops every Ray of the user"
    assert not re.search(r"\b(pkill|killall)\b", text), "never kill by name"
    assert "0.0.0.0" not in text
    assert text.count("--node-ip-address 127.0.0.1") >= 2  # head and workers
    assert "--dashboard-host 127.0.0.1" in text
    assert "RAY_AUTH_MODE=token" in text and "--num-cpus" in text and "--resources" in text
    assert re.search(r'setsid "\$RAY_BIN" start --block', text), "each node: its own `ray start` in its own session"


def test_local_sh_help_and_bad_arguments_start_nothing(tmp_path):
    env = {"SSLSWEEP_LOCAL_CLUSTER_DIR": str(tmp_path / "state"), "RAY": str(tmp_path / "no-ray-here")}
    result = _local_sh("--help", env_extra=env)
    assert result.returncode == 0 and "start N" in result.stdout and "RAY_AUTH_MODE=token" in result.stdout
    for args in (
        ["start"],
        ["start", "two"],
        ["start", "1", "--worker-cpus", "x"],
        ["start", "1", "--bogus"],
        ["frobnicate"],
    ):
        result = _local_sh(*args, env_extra=env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert not (tmp_path / "state").exists(), "argument errors are found before anything is started"
    result = _local_sh("stop", env_extra=env)
    assert result.returncode == 0 and "nothing to stop" in result.stdout


def _start_time(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(") ", 1)[1].split()[19]


def _group_members(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True, text=True).stdout
    return [
        int(p)
        for p, g, s in (line.split()[:3] for line in out.splitlines())
        if int(g) == pgid and not s.startswith("Z")
    ]


def _alive(pid: int, start: str | None = None) -> bool:
    """Is PID a live (non-zombie) process, and the same one (start time) when START is given?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    fields = stat.rsplit(") ", 1)[1].split()
    return fields[0] != "Z" and (start is None or fields[19] == start)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    return [int(p) for p, pp in (line.split() for line in out.splitlines()) if int(pp) == pid]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_local_sh_stop_signals_the_recorded_groups_and_their_strays_only(tmp_path):
    """Stand-ins for nodes: a `ray start --block` leader (argv[0] only; it is `sleep`) with a child in its
    group and a descendant in a session of its own (as Ray's workers are); an unrelated process; and a
    recorded pid that now belongs to that unrelated process (pid reuse). stop ends the first three only."""
    state = tmp_path / "state"
    state.mkdir()
    ours: dict[int, str] = {}  # every process this test started: pid -> start time (cleanup by id only)
    procs: list[subprocess.Popen] = []
    try:
        node = subprocess.Popen(
            ["setsid", "bash", "-c", 'sleep 300 & setsid sleep 301 & exec -a "ray start --block" sleep 302'],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(node)
        ours[node.pid] = _start_time(node.pid)
        unrelated = subprocess.Popen(["sleep", "303"], start_new_session=True)
        procs.append(unrelated)
        ours[unrelated.pid] = _start_time(unrelated.pid)
        deadline = time.time() + 10
        while time.time() < deadline and (len(_group_members(node.pid)) < 2 or len(_children(node.pid)) < 2):
            time.sleep(0.1)
        for child in _children(node.pid):
            ours[child] = _start_time(child)
        group = _group_members(node.pid)
        assert node.pid in group and len(group) == 2, "the leader and its child share the leader's group"
        strays = [p for p in _children(node.pid) if p not in group]
        assert len(strays) == 1, "the setsid child left the group"
        (state / "nodes").write_text(
            f"head {node.pid} {ours[node.pid]} {tmp_path}/head.log\n"
            f"worker_1 {unrelated.pid} 1 {tmp_path}/worker_1.log\n"
        )  # wrong start time: a reused pid

        result = _local_sh("stop", env_extra={"SSLSWEEP_LOCAL_CLUSTER_DIR": str(state)}, timeout=90)
        assert result.returncode == 0, result.stdout + result.stderr
        node.wait(timeout=10)
        assert not _group_members(node.pid), "the recorded group is gone"
        assert not _alive(strays[0], ours[strays[0]]), "the descendant outside the group is gone"
        assert _alive(unrelated.pid, ours[unrelated.pid]), "a process that merely has a recorded pid is left alone"
        assert "worker_1: not running" in result.stdout and not (state / "nodes").exists()
    finally:
        for pid, start in ours.items():
            if _alive(pid, start):
                os.kill(pid, signal.SIGKILL)
        for proc in procs:
            proc.wait(timeout=10)  # reap our direct children
