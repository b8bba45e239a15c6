"""The KubeRay manifest runs what the office cluster runs: the same entry point, storage and image."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from sonovis.cli import build_parser
from sonovis.config import SearchConfig

REPO = Path(__file__).resolve().parents[2]
KUBERAY = REPO / "cluster" / "kuberay"


def manifest() -> dict:
    return yaml.safe_load((KUBERAY / "rayjob.yaml").read_text())


def test_rayjob_runs_the_office_entry_point_on_s3_storage() -> None:
    job = manifest()
    assert job["kind"] == "RayJob" and job["apiVersion"] == "ray.io/v1"
    argv = shlex.split(job["spec"]["entrypoint"])
    office = (REPO / "cluster" / "README.md").read_text()
    assert argv[:2] == ["python", "jobs/tune.py"] and "python jobs/tune.py" in office and (REPO / argv[1]).exists()
    args = build_parser().parse_args(["tune", *argv[2:]])  # the same flags the office submission uses
    assert args.data and args.out
    storage = [a for a in args.set if a.startswith("search.storage_path=")]
    assert storage and storage[0].split("=", 1)[1].strip("'\"").startswith("s3://")
    assert "search.storage_path=" in office and "storage_path" in SearchConfig.__dataclass_fields__


def test_every_pod_runs_the_pinned_image_and_ray_version() -> None:
    spec = manifest()["spec"]["rayClusterSpec"]
    pinned = next(line for line in (REPO / "pyproject.toml").read_text().splitlines() if '"ray[' in line)
    assert spec["rayVersion"] in pinned
    pods = [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]
    images = {c["image"] for pod in pods for c in pod["spec"]["containers"]}
    assert len(images) == 1
    for pod in pods:
        env = {e["name"] for c in pod["spec"]["containers"] for e in c["env"]}
        assert {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= env  # every node reaches S3
    dockerfile = (KUBERAY / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile and "pip install --no-cache-dir -e ." in dockerfile
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # the head runs no trials, as in the office
