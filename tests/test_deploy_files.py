"""The deployment files (deploy/compose.yaml, deploy/k8s/*.yaml) are valid against their schemas
and agree with the app: every setting they set exists, every probe hits a route, every command
is a `crm` command, and the process counts are the documented ones (one scheduler, one migrate).

Offline: the compose-spec schema is vendored in deploy/schemas/ (its source and version are in
deploy/schemas/README.md); the Kubernetes schemas come with the `kubernetes-validate` package."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from crm_core.cli import build_cli
from crm_core.testing import postgres_server_url, scratch_database

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
# the Kubernetes version the manifests are written for (kubernetes-validate ships its schemas)
K8S_VERSION = "1.30.0"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def resources() -> list[dict]:
    docs = []
    for path in MANIFESTS:
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def of_kind(kind: str) -> list[dict]:
    return [doc for doc in resources() if doc["kind"] == kind]


def pod_specs() -> list[tuple[str, dict]]:
    """(name, pod spec) of every workload."""
    return [
        (doc["metadata"]["name"], doc["spec"]["template"]["spec"])
        for doc in resources()
        if doc["kind"] in {"Deployment", "Job"}
    ]


@pytest.fixture(scope="module")
def settings() -> set[str]:
    result = CliRunner().invoke(build_cli(), ["settings", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return {row["variable"] for row in json.loads(result.output)}


@pytest.fixture(scope="module")
def commands() -> set[str]:
    result = CliRunner().invoke(build_cli(), ["--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    listing = result.output.split("Commands:", 1)[1]
    return set(re.findall(r"^  (\S+)", listing, re.M))


def env_file(name: str) -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


# -- schemas -------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec():
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    assert [e.message for e in validator.iter_errors(compose())] == []
    # the schema does reject mistakes (a misspelt key), so the check above means something
    broken = compose()
    broken["services"]["web"]["helthcheck"] = broken["services"]["web"].pop("healthcheck")
    assert list(validator.iter_errors(broken))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_matches_the_kubernetes_schema(path):
    from kubernetes_validate import utils

    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            utils.validate(doc, K8S_VERSION, strict=True)


def test_the_kubernetes_validator_rejects_unknown_fields():
    from kubernetes_validate import utils

    web = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "crm-web")
    web["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = web["spec"]["template"]["spec"][
        "containers"
    ][0].pop("readinessProbe")
    with pytest.raises(utils.ValidationError):
        utils.validate(web, K8S_VERSION, strict=True)


def test_docker_compose_config_accepts_the_file(tmp_path):
    """`docker compose config` needs no engine, only the compose v2 client (not on Debian
    bookworm, whose docker-compose 1.29 predates `env_file: required`): run where it exists."""
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("the docker compose v2 client is not installed")
    work = tmp_path / "deploy"
    shutil.copytree(DEPLOY, work)
    (work / "crm.env").write_text((work / "crm.env.example").read_text())
    (work / "postgres.env").write_text((work / "postgres.env.example").read_text())
    (work / "secrets").mkdir()
    (work / "secrets" / "master_key").write_text("placeholder\n")
    proc = subprocess.run(
        [docker, "compose", "-f", str(work / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def nginx_config(folder: Path, upstream: str = "127.0.0.1:8000", listen: str = "80") -> Path:
    """deploy/nginx.conf inside a minimal main configuration in ``folder``: its paths moved into
    ``folder``, the compose service name `web` replaced by ``upstream``, listening on ``listen``.
    Returns the main configuration's path."""
    site = (DEPLOY / "nginx.conf").read_text()
    assert site.count("server web:8000;") == 1 and site.count("listen 80;") == 1
    site = site.replace("server web:8000;", f"server {upstream};").replace("listen 80;", f"listen {listen};")
    site = site.replace("/var/cache/nginx/", f"{folder}/cache/").replace("/var/log/nginx/", f"{folder}/")
    assert "/var/" not in site
    (folder / "site.conf").write_text(site)
    (folder / "cache").mkdir()  # /var/cache/nginx exists in the nginx image
    temp = "".join(
        f"    {name}_temp_path {folder}/{name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # as root, nginx's workers would run as nobody, who cannot enter pytest's private tmp folders
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = folder / "main.conf"
    main.write_text(
        f"{user}pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
        f"http {{\n{temp}    include {folder}/site.conf;\n}}\n"
    )
    return main


def test_nginx_accepts_its_configuration(tmp_path):
    """`nginx -t` on deploy/nginx.conf (inside a minimal main configuration)."""
    nginx = nginx_binary()
    if nginx is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light)")
    main = nginx_config(tmp_path)
    proc = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# -- cross-references with the app ---------------------------------------------------------


def test_every_crm_variable_is_a_setting(settings):
    used = set(env_file("crm.env.example"))
    for doc in of_kind("ConfigMap") + of_kind("Secret"):
        used |= {k for k in {**doc.get("data", {}), **doc.get("stringData", {})} if k.startswith("CRM_")}
    for _name, spec in pod_specs():
        for container in spec["containers"]:
            used |= {e["name"] for e in container.get("env", []) if e["name"].startswith("CRM_")}
    for service in compose()["services"].values():
        environment = service.get("environment", {})
        used |= {
            k
            for k in (
                environment if isinstance(environment, dict) else dict(e.split("=", 1) for e in environment)
            )
        }
    assert "CRM_DATABASE_URL" in used and "CRM_ENCRYPTION_MASTER_KEY_FILE" in used
    assert sorted(used - settings) == []


def test_the_master_key_is_a_mounted_file_not_a_variable():
    assert "CRM_ENCRYPTION_MASTER_KEY" not in env_file("crm.env.example")
    assert env_file("crm.env.example")["CRM_ENCRYPTION_MASTER_KEY_FILE"] == "/run/secrets/crm_master_key"
    key_file = of_kind("ConfigMap")[0]["data"]["CRM_ENCRYPTION_MASTER_KEY_FILE"]
    for doc in of_kind("ConfigMap") + of_kind("Secret"):
        assert "CRM_ENCRYPTION_MASTER_KEY" not in {**doc.get("data", {}), **doc.get("stringData", {})}
    secret_keys = set(of_kind("Secret")[0]["stringData"])
    for name, spec in pod_specs():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        container = spec["containers"][0]
        if name == "crm-redis":
            continue
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        mount = mounts[str(Path(key_file).parent)]
        items = volumes[mount["name"]]["secret"]["items"]
        assert [(i["key"], i["path"]) for i in items] == [("master_key", Path(key_file).name)], name
        assert items[0]["key"] in secret_keys and mount["readOnly"] is True
    for service in ("web", "scheduler", "migrate"):
        assert compose()["services"][service]["secrets"][0]["target"] == "crm_master_key"


def test_probes_and_healthchecks_hit_real_routes(app):
    known = {rule.rule for rule in app.url_map.iter_rules()}
    paths = set()
    for _name, spec in pod_specs():
        for container in spec["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if "httpGet" in container.get(probe, {}):
                    paths.add(container[probe]["httpGet"]["path"])
    web = next(spec for name, spec in pod_specs() if name == "crm-web")["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert web["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for service in compose()["services"].values():
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        paths |= set(re.findall(r"http://127\.0\.0\.1(?::\d+)?(/[\w/.-]*)", test))
    assert "/health/ready" in paths and "/health/live" in paths
    assert sorted(paths - known) == []
    nginx = (DEPLOY / "nginx.conf").read_text()
    for path in re.findall(r"location =? ?(/[\w/.-]*)", nginx):
        assert path == "/" or any(rule == path or rule.startswith(path) for rule in known), path


def test_every_command_is_a_crm_command(commands):
    used = set()
    for _name, spec in pod_specs():
        for container in spec["containers"]:
            if "crm-core" in container["image"]:
                used.add(container["args"][0])
    for service in compose()["services"].values():
        if service.get("image", "").startswith("crm-core"):
            used.add(service["command"][0])
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["crm"]' in dockerfile
    used.add(json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))[0])
    assert used == {"serve", "scheduler", "migrate"}
    # docs/deploy.md runs these too (the first admin, backups and restores)
    assert sorted((used | {"init", "backup", "restore", "settings"}) - commands) == []


def test_process_counts():
    """One scheduler (the lock makes a second one a standby, but none is planned), migrations
    once before the others, the web tier free to scale."""
    services = compose()["services"]
    assert services["scheduler"]["deploy"]["replicas"] == 1
    assert services["migrate"]["command"] == ["migrate"] and services["migrate"]["restart"] == "no"
    for name in ("web", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "postgres", "redis", "nginx"):
        assert "healthcheck" in services[name], name
    for name in ("postgres", "redis"):
        assert services[name]["volumes"][0].split(":")[0] in compose()["volumes"]

    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    scheduler = deployments["crm-scheduler"]["spec"]
    assert scheduler["replicas"] == 1 and scheduler["strategy"]["type"] == "Recreate"
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "crm-web"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert not [
        h
        for h in of_kind("HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]["name"] == "crm-scheduler"
    ]
    (job,) = of_kind("Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_references_between_objects_resolve():
    names = {(d["kind"], d["metadata"]["name"]) for d in resources()}
    for d in resources():
        assert d["metadata"].get("namespace", "crm") == "crm"
    for name, spec in pod_specs():
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                kind, ref = (
                    ("ConfigMap", source["configMapRef"])
                    if "configMapRef" in source
                    else ("Secret", source["secretRef"])
                )
                assert (kind, ref["name"]) in names, name
            assert "requests" in container["resources"] and "limits" in container["resources"], name
            mounted = {m["name"] for m in container.get("volumeMounts", [])}
            assert mounted <= {v["name"] for v in spec.get("volumes", [])}, name
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert ("Secret", volume["secret"]["secretName"]) in names
    for service in of_kind("Service"):
        selector = service["spec"]["selector"]
        assert any(
            selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
            for d in of_kind("Deployment")
        ), service["metadata"]["name"]
    for ingress in of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert ("Service", path["backend"]["service"]["name"]) in names
    redis = of_kind("ConfigMap")[0]["data"]["CRM_RATELIMIT_STORAGE_URL"]
    assert ("Service", re.match(r"redis://([\w-]+):", redis).group(1)) in names


def test_body_size_limit_agrees_everywhere():
    limit = int(env_file("crm.env.example")["CRM_MAX_CONTENT_LENGTH"])
    assert int(of_kind("ConfigMap")[0]["data"]["CRM_MAX_CONTENT_LENGTH"]) == limit
    nginx = re.search(r"client_max_body_size (\d+)m;", (DEPLOY / "nginx.conf").read_text()).group(1)
    ingress = of_kind("Ingress")[0]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert int(nginx) * 1024 * 1024 == limit == int(ingress.rstrip("m")) * 1024 * 1024


def test_no_real_secrets_in_the_examples():
    """Every secret in the examples is a placeholder: the Secret's keys, the same keys in the env
    file example, and the passwords."""
    secret = of_kind("Secret")[0]["stringData"]
    examples = {**env_file("crm.env.example"), **env_file("postgres.env.example")}
    placeholders = {**secret, **{k: v for k, v in examples.items() if k in secret or "PASSWORD" in k}}
    assert {"CRM_SECRET_KEY", "CRM_AUDIT_KEY", "CRM_DATABASE_URL", "master_key", "POSTGRES_PASSWORD"} <= set(
        placeholders
    )
    assert sorted(k for k, v in placeholders.items() if "change-me" not in v) == []


# -- the same processes without containers ---------------------------------------------------


@pytest.mark.slow
def test_the_compose_processes_come_up_ready(tmp_path):
    """What compose.yaml runs, run here as plain processes with the settings of crm.env.example
    (database, Redis and key file pointed at this machine's): `crm migrate` exits 0, then
    `crm scheduler` and `crm serve` start, and /health/ready turns green once the scheduler beat."""
    server = postgres_server_url()
    if server is None:
        pytest.skip("the deployment runs on PostgreSQL")
    crm = str(Path(sys.executable).parent / "crm")
    key = tmp_path / "master_key"
    key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with scratch_database(server, "crm_deploy") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
        env.update(env_file("crm.env.example"))
        env.update(
            CRM_DATABASE_URL=url,
            CRM_ENCRYPTION_MASTER_KEY_FILE=str(key),
            CRM_RATELIMIT_STORAGE_URL=os.environ.get("CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            CRM_RATELIMIT_KEY_PREFIX=f"crmtest-deploy-{port}",
            CRM_INSTANCE_PATH=str(tmp_path / "instance"),
        )
        migrate = subprocess.run([crm, "migrate"], env=env, capture_output=True, text=True, timeout=300)
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        web_command = compose()["services"]["web"]["command"]
        web_command = [c.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for c in web_command]
        web_command[web_command.index("--workers") + 1] = "2"
        procs = []
        try:
            for command in (compose()["services"]["scheduler"]["command"], web_command):
                procs.append(
                    subprocess.Popen(
                        [crm, *command],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            deadline, status, body = time.monotonic() + 120, None, b""
            while time.monotonic() < deadline and status != 200:
                assert all(p.poll() is None for p in procs), "a process exited"
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=3) as r:
                        status, body = r.status, r.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read()
                except OSError:
                    pass
                time.sleep(0.5)
            assert status == 200, body
            assert json.loads(body)["checks"]["scheduler"]["status"] == "ok"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=3) as r:
                assert r.status == 200
            # Prometheus's view: the token of the settings, every worker's requests summed
            scrape = urllib.request.Request(
                f"http://127.0.0.1:{port}/metrics",
                headers={"Authorization": f"Bearer {env['CRM_METRICS_TOKEN']}"},
            )
            with urllib.request.urlopen(scrape, timeout=5) as r:
                assert r.status == 200 and "crm_http_requests" in r.read().decode()
            if nginx_binary():  # and through deploy/nginx.conf in front, as compose runs it
                procs.append(behind_nginx(tmp_path / "nginx", port))
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=60)


def behind_nginx(folder: Path, port: int) -> subprocess.Popen:
    """Start nginx with deploy/nginx.conf in front of 127.0.0.1:``port`` and check what it is
    for: readiness through the proxy, /metrics kept off the public side, static files cached.
    Returns the nginx process (the caller stops it)."""
    folder.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        public = s.getsockname()[1]
    main = nginx_config(folder, upstream=f"127.0.0.1:{port}", listen=f"127.0.0.1:{public}")
    proc = subprocess.Popen(
        [nginx_binary(), "-p", str(folder), "-c", str(main), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{public}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health/ready", timeout=3) as r:
                assert r.status == 200
                break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, (folder / "error.log").read_text()
            time.sleep(0.3)
    with pytest.raises(urllib.error.HTTPError) as hidden:
        urllib.request.urlopen(f"{base}/metrics", timeout=3)
    assert hidden.value.code == 404
    seen = []
    for _ in range(2):
        with urllib.request.urlopen(f"{base}/static/crm/app.css", timeout=3) as r:
            assert r.status == 200 and r.read()
            seen.append(r.headers["X-Cache-Status"])
    assert seen == ["MISS", "HIT"], seen
    log = (folder / "access.log").read_text()
    assert "GET /health/ready" in log
    return proc
