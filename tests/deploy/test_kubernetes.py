"""deploy/kubernetes: every overlay renders with kustomize and validates offline; the settings that item's
design depends on (grace periods, one beat, secrets as files, probes, sizing) are what deploy/README.md says."""

import shutil

import pytest

from .kubernetes_manifests import KUBERNETES_ROOT, problems, render

OVERLAYS = ["base", "overlays/production", "overlays/staging"]


def _by_name(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _pod(deployment):
    return deployment["spec"]["template"]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders_and_every_object_is_valid_for_kubernetes_and_keda(overlay):
    # Given the overlay, when kustomize renders it
    objects = render(KUBERNETES_ROOT / overlay)
    # Then every object passes the Kubernetes (or KEDA CRD) schema, unknown fields refused
    assert problems(objects) == []
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "Job", "PodDisruptionBudget", "NetworkPolicy", "ScaledObject",
            "TriggerAuthentication", "ConfigMap"} <= kinds  # fmt: skip


@pytest.mark.parametrize(
    ("file", "good", "broken", "reported"),
    [
        ("base/worker-sync.yaml", "terminationGracePeriodSeconds: 90", "terminationGracePeriodSecond: 90", "terminationGracePeriodSecond"),
        ("base/web.yaml", "containerPort: 8000", "containerPort: http-8000", "containerPort"),
        ("base/autoscaling.yaml", "minReplicaCount: 2", "minReplicaCount: two", "minReplicaCount"),
        ("base/autoscaling.yaml", "cooldownPeriod: 300\n  advanced:\n    horizontalPodAutoscalerConfig:\n      behavior:\n        scaleDown:\n          stabilizationWindowSeconds: 300\n          policies:",
         "cooldownPeriod: 300\n  advanced:\n    horizontalPodAutoscalerConfig:\n      behaviour:\n        scaleDown:\n          stabilizationWindowSeconds: 300\n          policies:", "behaviour"),
    ],
)  # fmt: skip
def test_a_broken_copy_of_the_manifests_fails_validation(tmp_path, file, good, broken, reported):
    # Given a copy of deploy/kubernetes with one mistake (a misspelt field, a wrong type)
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES_ROOT, copy)
    path = copy / file
    text = path.read_text(encoding="utf-8")
    assert good in text
    path.write_text(text.replace(good, broken, 1), encoding="utf-8")
    # When it is rendered and validated, then the mistake is reported, naming the field
    found = problems(render(copy / "overlays" / "production"), schemas_dir=copy / "schemas")
    assert found and any(reported in message for message in found), found


def test_grace_periods_cover_the_shutdown_deploy_readme_describes():
    # Given the production rendering and the request timeouts its ConfigMap sets
    objects = render(KUBERNETES_ROOT / "overlays/production")
    config = _by_name(objects, "ConfigMap")["engage-sync-config"]["data"]
    request, token = int(config["EWS_REQUEST_TIMEOUT_SECONDS"]), int(config["TOKEN_REQUEST_TIMEOUT_SECONDS"])
    deployments = _by_name(objects, "Deployment")
    grace = {name: _pod(d)["terminationGracePeriodSeconds"] for name, d in deployments.items()}
    # Then a sync worker's grace covers the request in flight plus a token fetch (then its syncs hand back), and a
    # mail worker's covers an attempt's half-dozen requests at their timeout (it finishes the send)
    assert grace["engage-sync-worker-sync"] >= request + token
    assert grace["engage-sync-worker-mail"] >= 6 * request + token
    assert grace["engage-sync-worker-verify"] >= request + token
    # And the workers run the thread pool that design is for
    for name in ("engage-sync-worker-sync", "engage-sync-worker-mail", "engage-sync-worker-verify"):
        command = _pod(deployments[name])["containers"][0]["command"]
        assert command[command.index("--pool") + 1] == "threads"


def test_beat_is_one_pod_replaced_never_doubled():
    deployments = _by_name(render(KUBERNETES_ROOT / "overlays/production"), "Deployment")
    beat = deployments["engage-sync-beat"]["spec"]
    assert (beat["replicas"], beat["strategy"]["type"]) == (1, "Recreate")


def test_secrets_reach_the_pods_only_as_files_named_by_file_settings():
    objects = render(KUBERNETES_ROOT / "overlays/production")
    config = _by_name(objects, "ConfigMap")["engage-sync-config"]["data"]
    secret_paths = {value for key, value in config.items() if key.endswith("_FILE")}
    assert {"DJANGO_SECRET_KEY_FILE", "ENGAGE_ENCRYPTION_KEYS_FILE", "DATABASE_URL_FILE", "CELERY_BROKER_URL_FILE"} <= set(config)
    pods = [_pod(o) for o in objects if o["kind"] in ("Deployment", "Job")]
    for pod in pods:
        container = pod["containers"][0]
        # No secret as an environment value (it would show in `kubectl describe` and in /proc/*/environ)
        assert all("valueFrom" not in variable for variable in container.get("env", []))
        assert all("secretRef" not in source for source in container.get("envFrom", []))
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
        mounted = [mounts[name] for name in secret_volumes]
        own_files = {v["value"] for v in container.get("env", []) if v["name"].endswith("_FILE")}  # Flower's
        assert all(any(path.startswith(f"{root}/") for root in mounted) for path in secret_paths | own_files)
        assert all(m.get("readOnly") for m in container["volumeMounts"] if m["name"] in secret_volumes)


def test_every_long_running_pod_has_probes_requests_and_runs_unprivileged():
    objects = render(KUBERNETES_ROOT / "overlays/production")
    for name, deployment in _by_name(objects, "Deployment").items():
        pod = _pod(deployment)
        container = pod["containers"][0]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        if name != "engage-sync-beat":  # beat answers nothing; its health is the dispatch-lag metric
            assert "livenessProbe" in container, name
    web = _pod(_by_name(objects, "Deployment")["engage-sync-web"])["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/admin/login/"


def test_keda_scales_exactly_the_worker_deployments_that_leave_replicas_to_it():
    objects = render(KUBERNETES_ROOT / "overlays/production")
    deployments = _by_name(objects, "Deployment")
    for scaled in _by_name(objects, "ScaledObject").values():
        target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
        assert "replicas" not in target["spec"]  # kubectl apply would fight KEDA over it otherwise
        assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq" and trigger["authenticationRef"]["name"] in _by_name(objects, "TriggerAuthentication")


def test_the_web_readiness_probe_gets_a_200_from_django_with_the_configmaps_https_settings(client, settings):
    # Given production's HTTPS settings (redirect to HTTPS, behind the TLS proxy) with the ConfigMap's values
    objects = render(KUBERNETES_ROOT / "overlays/production")
    config = _by_name(objects, "ConfigMap")["engage-sync-config"]["data"]
    settings.ALLOWED_HOSTS = config["ALLOWED_HOSTS"].split(",")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_" + config["SECURE_PROXY_SSL_HEADER"].upper().replace("-", "_"), "https")
    probe = _pod(_by_name(objects, "Deployment")["engage-sync-web"])["containers"][0]["readinessProbe"]["httpGet"]
    headers = {"HTTP_" + h["name"].upper().replace("-", "_"): h["value"] for h in probe["httpHeaders"]}
    # When the kubelet sends the probe, then Django answers 200 (not a redirect, not a 400 for the host)
    assert client.get(probe["path"], **headers).status_code == 200
    # And without the probe's headers it would not have: the pod IP is not an allowed host, plain HTTP is redirected
    assert client.get(probe["path"], HTTP_HOST="10.1.2.3").status_code == 400
    assert client.get(probe["path"], HTTP_HOST="localhost").status_code == 301
