"""deploy/: the files users run without us. No container engine or Kubernetes cluster here, so the manifests and the
Dockerfile are checked for what would break them: syntax, kinds and apiVersions, names that must match across
files (Service selector and pod labels, ports, the scheduler address, volumes and claims, the ConfigMap the docs
create, the image tag), and every synsweep / dask command line, parsed by the real click commands."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import click
import pytest
import yaml
from distributed.cli.dask_scheduler import main as dask_scheduler
from distributed.cli.dask_worker import main as dask_worker

from synsweep.sweeps.clusters import job_config, read_config_file
from synsweep.workflows.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "container" / "Dockerfile"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"synsweep:{VERSION}"
API_VERSIONS = {"Deployment": "apps/v1", "Service": "v1", "Job": "batch/v1", "PersistentVolumeClaim": "v1"}


# -- command lines, parsed by the commands themselves --------------------------------------------------------
def check_command(argv: list[str]) -> None:
    """Raise click.UsageError (or fail) unless ``argv`` is a valid synsweep / dask scheduler / dask worker call."""
    if argv[0] == "synsweep":
        ctx = click.Context(cli, info_name="synsweep")
        sub = cli.get_command(ctx, argv[1])
        assert sub is not None, f"synsweep has no command {argv[1]!r}"
        sub.make_context(argv[1], argv[2:], parent=ctx)
    elif argv[:2] == ["dask", "scheduler"]:
        dask_scheduler.make_context("dask scheduler", argv[2:])
    elif argv[:2] == ["dask", "worker"]:
        dask_worker.make_context("dask worker", argv[2:])
    else:
        pytest.fail(f"unexpected command {argv}")


def test_check_command_rejects_what_the_commands_reject():
    with pytest.raises(click.UsageError):
        check_command(["synsweep", "run", "spec.yaml", "--out", "x.zarr", "--no-such-option"])
    with pytest.raises(click.UsageError):
        check_command(["dask", "worker", "tcp://h:8786", "--nworker", "1"])


# -- Kubernetes ------------------------------------------------------------------------------------------
def manifests() -> dict[tuple[str, str], dict]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def pod_specs() -> dict[str, dict]:
    return {name: doc["spec"]["template"]["spec"] for (kind, name), doc in manifests().items()
            if kind in ("Deployment", "Job")}


def containers() -> list[dict]:
    return [c for spec in pod_specs().values() for c in spec.get("initContainers", []) + spec["containers"]]


def test_manifests_parse_with_known_kinds_and_the_kustomization_lists_them_all():
    docs = manifests()
    assert {kind for kind, _ in docs} == set(API_VERSIONS)
    for (kind, name), doc in docs.items():
        assert doc["apiVersion"] == API_VERSIONS[kind], name
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_deployments_select_their_own_pods_and_the_service_finds_the_scheduler():
    docs = manifests()
    for (kind, name), doc in docs.items():
        if kind == "Deployment":
            assert doc["spec"]["selector"]["matchLabels"].items() <= doc["spec"]["template"]["metadata"][
                "labels"].items(), name
    service = docs[("Service", "synsweep-scheduler")]
    scheduler = docs[("Deployment", "synsweep-scheduler")]
    assert service["spec"]["selector"].items() <= scheduler["spec"]["template"]["metadata"]["labels"].items()
    worker_labels = docs[("Deployment", "synsweep-worker")]["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= worker_labels.items()  # the Service is the scheduler's only
    container = scheduler["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    command = container["command"]
    assert int(command[command.index("--port") + 1]) == ports["comm"]
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == "comm"
    address = f"tcp://synsweep-scheduler:{service_port['port']}"
    worker = docs[("Deployment", "synsweep-worker")]["spec"]["template"]["spec"]["containers"][0]["command"]
    driver = docs[("Job", "synsweep-sweep")]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert worker[2] == address
    assert driver[driver.index("--scheduler") + 1] == address


def test_every_command_parses_and_uses_the_image_the_dockerfile_builds():
    for container in containers():
        assert container["image"] == IMAGE, container["name"]
        if container["command"][0] != "sh":
            check_command(container["command"])
    assert f"-t {IMAGE} " in DOCKERFILE.read_text()


def test_volumes_claims_and_the_spec_configmap_are_consistent():
    docs = manifests()
    claims = {name for kind, name in docs if kind == "PersistentVolumeClaim"}
    for name, spec in pod_specs().items():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec.get("initContainers", []) + spec["containers"]:
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, (name, mount)
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
                assert "ReadWriteMany" in docs[("PersistentVolumeClaim", volume["persistentVolumeClaim"][
                    "claimName"])]["spec"]["accessModes"]
    for claim in claims:  # every claim is used
        assert any(v.get("persistentVolumeClaim", {}).get("claimName") == claim
                   for spec in pod_specs().values() for v in spec.get("volumes", []))
    job = pod_specs()["synsweep-sweep"]
    configmap = next(v["configMap"]["name"] for v in job["volumes"] if "configMap" in v)
    assert f"kubectl create configmap {configmap} --from-file=spec.yaml=" in (ROOT / "docs" / "cluster.md").read_text()
    driver = job["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in driver["volumeMounts"]}
    command = driver["command"]
    assert command[2].startswith(mounts["spec"] + "/") and command[2].endswith("/spec.yaml")
    assert command[command.index("--out") + 1].startswith(mounts["results"] + "/")
    assert "--resume" in command  # a restarted driver pod continues the sweep


def test_workers_use_the_shared_kernel_cache_seeded_from_the_image():
    spec = pod_specs()["synsweep-worker"]
    worker = spec["containers"][0]
    env = {e["name"]: e["value"] for e in worker["env"]}
    mounts = {m["name"]: m["mountPath"] for m in worker["volumeMounts"]}
    assert env["NUMBA_NUM_THREADS"] == "1"
    assert env["SYNSWEEP_CACHE_DIR"] == mounts["kernel-cache"]
    (seed,) = spec["initContainers"]
    image_cache = dockerfile_env()["SYNSWEEP_CACHE_DIR"]
    assert seed["command"][-1] == f"cp -rn {image_cache}/. {mounts['kernel-cache']}/"


# -- Dockerfile ------------------------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0], line.split(None, 1)[1]) for line in lines]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(rest))
    return env


def test_dockerfile_copies_what_exists_and_warms_the_cache_with_real_commands():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    known = {"FROM", "ENV", "WORKDIR", "COPY", "RUN", "USER", "CMD"}
    assert {k for k, _ in instructions} <= known
    for keyword, rest in instructions:
        if keyword == "COPY":
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), source
    runs = [rest for keyword, rest in instructions if keyword == "RUN"]
    assert any(r.startswith("pip install \".[cluster,s3]\"") for r in runs)  # batch systems, object storage
    commands = [shlex.split(part) for r in runs for part in r.split("&&") if part.strip().startswith("synsweep")]
    assert len(commands) == 2
    for argv in commands:
        assert argv[1:3] == ["validate", "--compile"]
        check_command(argv)
        assert (ROOT / argv[3]).is_file(), argv  # the packaged spec (WORKDIR is the source tree)
    assert dockerfile_env()["NUMBA_NUM_THREADS"] == "1"
    cmd = next(rest for keyword, rest in instructions if keyword == "CMD")
    assert yaml.safe_load(cmd) == ["synsweep", "--help"]


# -- batch scripts and example configs -------------------------------------------------------------------
@pytest.mark.parametrize("script", ["slurm/sweep-in-allocation.sbatch", "pbs/sweep-in-allocation.pbs"])
def test_batch_scripts_are_valid_bash(script):
    proc = subprocess.run(["bash", "-n", str(DEPLOY / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_example_cluster_configs_are_valid(kind):
    path = DEPLOY / kind / "cluster.yaml"
    assert {"cores", "memory", "walltime", "queue", "account", "jobs"} <= set(read_config_file(path))
    config = job_config(kind, None, config_file=path, check_submit=False)
    assert config.lifetime_seconds + config.stagger_seconds < config.walltime_seconds


def run_sbatch_script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(DEPLOY / "slurm" / "sweep-in-allocation.sbatch"), *args],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env}, timeout=30)


def test_sbatch_script_stops_at_once_with_a_clear_message(tmp_path):
    """Without SPEC and OUT, or without synsweep on the job's PATH (SYNSWEEP_VENV unset or wrong), the job ends
    at once with exit 2 and one line that names the fix, before it starts anything."""
    proc = run_sbatch_script(env={})
    assert proc.returncode == 2 and "deploy/slurm/sweep-in-allocation.sbatch SPEC.yaml RESULT.zarr" in proc.stderr
    proc = run_sbatch_script("s.yaml", "r.zarr", env={})
    assert proc.returncode == 2 and "set SYNSWEEP_VENV" in proc.stderr, proc.stderr
    proc = run_sbatch_script("s.yaml", "r.zarr", env={"SYNSWEEP_VENV": str(tmp_path)})
    assert proc.returncode == 2 and "is not a virtual environment" in proc.stderr, proc.stderr
    assert not list(tmp_path.iterdir())


# -- Kubernetes with object storage (a kustomize overlay of the above) -------------------------------------
K8S_OBJECT_STORAGE = DEPLOY / "kubernetes-object-storage"


def strategic_merge(base: object, patch: object) -> object:
    """Kubernetes' strategic merge for the fields the overlay patches: maps merge key by key, lists of named maps
    (containers, volumes, volumeMounts) merge by name, ``$patch: delete`` removes an item, other lists replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = strategic_merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(p, dict) and "name" in p for p in patch):
        out = {item["name"]: item for item in base}
        for item in patch:
            if item.get("$patch") == "delete":
                out.pop(item["name"], None)
            else:
                out[item["name"]] = strategic_merge(out[item["name"]], item) if item["name"] in out else item
        return list(out.values())
    return patch


def overlay_manifests() -> dict[tuple[str, str], dict]:
    kustomization = yaml.safe_load((K8S_OBJECT_STORAGE / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../kubernetes"]
    docs = manifests()
    for entry in kustomization["patches"]:
        patch = yaml.safe_load((K8S_OBJECT_STORAGE / entry["path"]).read_text())
        key = (patch["kind"], patch["metadata"]["name"])
        assert key in docs, key  # a patch of something the base has
        if patch.get("$patch") == "delete":
            del docs[key]
        else:
            docs[key] = strategic_merge(docs[key], patch)
    return docs


def test_the_object_storage_overlay_writes_to_a_bucket_with_the_secrets_credentials_and_no_results_volume():
    docs = overlay_manifests()
    assert ("PersistentVolumeClaim", "synsweep-results") not in docs
    assert ("PersistentVolumeClaim", "synsweep-kernel-cache") in docs  # compiled kernels still shared
    claims = {name for kind, name in docs if kind == "PersistentVolumeClaim"}
    pods = {name: doc["spec"]["template"]["spec"] for (kind, name), doc in docs.items()
            if kind in ("Deployment", "Job")}
    for name, spec in pods.items():
        volumes = {v["name"] for v in spec.get("volumes", [])}
        assert "results" not in volumes, name
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            assert {m["name"] for m in container.get("volumeMounts", [])} <= volumes, (name, container["name"])
    driver = pods["synsweep-sweep"]["containers"][0]
    command = driver["command"]
    check_command(command)  # the URL is a store location synsweep run accepts
    assert command[command.index("--out") + 1].startswith("s3://") and "--resume" in command
    worker = pods["synsweep-worker"]["containers"][0]
    for container in (driver, worker):  # the same credentials for the driver and every worker, from the Secret
        assert container["envFrom"] == [{"secretRef": {"name": "synsweep-object-storage"}}]
        assert not any("AWS_SECRET" in str(e) for e in container.get("env", []))  # never in a manifest
    assert '".[cluster,s3]"' in DOCKERFILE.read_text()  # the image can write to object storage
    assert "kubectl create secret generic synsweep-object-storage" in (ROOT / "docs" / "cluster.md").read_text()
