"""The Kubernetes deployment, checked without a cluster: the Helm chart (deploy/helm/filmstudio)
rendered with `helm template` for its defaults and a production-like value set, validated by
`kubeconform -strict` against Kubernetes' schemas and the Strimzi, CloudNativePG and KEDA CRDs'
(all local files), then held to what kubeconform cannot see: every process of the studio runs a
real `filmstudio` command with probes and resources, the topics are the code's catalogue with
replication 3 and min.insync.replicas 2, GPU pools scale on their own consumer group's lag, only
the API is reachable from outside. `deploy/local/k8s-tools.sh` (run by `make bootstrap`)
installs helm and kubeconform; it does nothing once they are there.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from adapters import heartbeat
from adapters.settings import Settings
from adapters.topics import CATALOGUE, Topics
from domain.stages import FINAL_QUALITY_STAGES, STAGES
from filmstudio.cli import main as cli
from filmstudio.processes import studio_processes
from tests.support.k8s_schemas import KUBERNETES_VERSION, write_schemas

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "filmstudio"
CRD_SCHEMAS = ROOT / "deploy" / "helm" / "crds-schemas"
TOOLS_SCRIPT = ROOT / "deploy" / "local" / "k8s-tools.sh"
HELM = ROOT / ".build" / "bin" / "helm"
KUBECONFORM = ROOT / ".build" / "bin" / "kubeconform"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
VALUE_SETS = {
    "defaults": [],
    "production": ["-f", str(CHART / "ci" / "production-values.yaml")],
    "recovery": [  # point-in-time recovery of PostgreSQL (docs/operations.md)
        "--set", "postgres.recovery.enabled=true",
        "--set", "postgres.recovery.serverName=films-pg",
        "--set-string", "postgres.recovery.targetTime=2026-12-01 09:59:00+00",
        "--set", "postgres.backup.serverName=films-pg-r1",
    ],
}  # fmt: skip
PREFIX = "studio"  # the chart's default topicPrefix, and the production set's
TOPICS = Topics(PREFIX)
# The cluster version to render for (a `go install`ed helm assumes 1.20, below the chart's floor);
# the schemas are that version's.
KUBE = ["--kube-version", KUBERNETES_VERSION]

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def tools() -> None:
    """helm and kubeconform in .build/bin (built once by the project's script)."""
    built = subprocess.run([str(TOOLS_SCRIPT)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"{TOOLS_SCRIPT.name} failed: {built.stderr[-2000:]}"


def helm_template(*args: str) -> str:
    done = subprocess.run(
        [str(HELM), "template", "films", str(CHART), "--namespace", "films", *KUBE, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def rendered(tools: None) -> dict[str, str]:
    return {name: helm_template(*args) for name, args in VALUE_SETS.items()}


@pytest.fixture(scope="module")
def k8s_schemas(rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kubernetes' schemas of the kinds rendered (and of the broken cases' kinds)."""
    kinds = {
        (doc["apiVersion"], doc["kind"])
        for text in rendered.values()
        for doc in yaml.safe_load_all(text)
        if doc
    }
    out = tmp_path_factory.mktemp("k8s-schemas")
    write_schemas(kinds, out)
    return out


def kubeconform(schemas: Path, manifests: str) -> subprocess.CompletedProcess[str]:
    """kubeconform -strict on `manifests`, with only local schemas (a missing one fails)."""
    kubernetes = str(schemas) + "/{{.ResourceKind}}{{.KindSuffix}}.json"
    crds = str(CRD_SCHEMAS) + "/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
    return subprocess.run(
        [
            str(KUBECONFORM),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-schema-location",
            kubernetes,
            "-schema-location",
            crds,
            "-",
        ],
        input=manifests,
        capture_output=True,
        text=True,
        check=False,
    )


def docs_of(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="module", params=list(VALUE_SETS))
def manifests(request: pytest.FixtureRequest, rendered: dict[str, str]) -> list[Manifest]:
    return docs_of(rendered[request.param])


@pytest.fixture(scope="module")
def production(rendered: dict[str, str]) -> list[Manifest]:
    return docs_of(rendered["production"])


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def lag_scalers(manifests: list[Manifest]) -> dict[str, Manifest]:
    """The ScaledObjects on a Kafka consumer group's lag (the GPU pools'), by target."""
    return {
        s["spec"]["scaleTargetRef"]["name"]: s
        for s in of_kind(manifests, "ScaledObject").values()
        if [t["type"] for t in s["spec"]["triggers"]] == ["kafka"]
    }


def containers(deployment: Manifest) -> list[Manifest]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def pod_labels(deployment: Manifest) -> dict[str, str]:
    return dict(deployment["spec"]["template"]["metadata"]["labels"])


# --- kubeconform


def test_kubeconform_accepts_every_value_set(rendered: dict[str, str], k8s_schemas: Path) -> None:
    """Every resource of every value set is valid (one run: the schemas compile once)."""
    done = kubeconform(k8s_schemas, "\n---\n".join(rendered.values()))
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert summary["valid"] == sum(len(docs_of(text)) for text in rendered.values()) > 150
    assert summary["invalid"] == summary["errors"] == summary["skipped"] == 0


def _first(docs: list[Manifest], kind: str) -> Manifest:
    return copy.deepcopy(next(d for d in docs if d["kind"] == kind))


def _misspelt_deployment_field(docs: list[Manifest]) -> Manifest:
    deployment = _first(docs, "Deployment")
    deployment["spec"]["replica"] = 2  # not `replicas`
    return deployment


def _misspelt_topic_field(docs: list[Manifest]) -> Manifest:
    topic = _first(docs, "KafkaTopic")
    topic["spec"]["replicationFactor"] = 3  # Strimzi's field is `replicas`
    return topic


def _misspelt_acl_operation(docs: list[Manifest]) -> Manifest:
    user = _first(docs, "KafkaUser")
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Wirte"]
    return user


def _wrong_type_in_scaled_object(docs: list[Manifest]) -> Manifest:
    scaled = _first(docs, "ScaledObject")
    scaled["spec"]["maxReplicaCount"] = "twenty"
    return scaled


def _missing_required_in_cluster(docs: list[Manifest]) -> Manifest:
    cluster = _first(docs, "Cluster")
    del cluster["spec"]["backup"]["barmanObjectStore"]["destinationPath"]
    return cluster


def _unknown_kind(docs: list[Manifest]) -> Manifest:
    return {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaBridgeX", "metadata": {}}


BREAKAGES = [
    _misspelt_deployment_field,
    _misspelt_topic_field,
    _misspelt_acl_operation,
    _wrong_type_in_scaled_object,
    _missing_required_in_cluster,
    _unknown_kind,
]


def test_kubeconform_refuses_broken_manifests(rendered: dict[str, str], k8s_schemas: Path) -> None:
    """Each broken copy of a rendered resource (named after its breakage) is refused, in one
    run beside an intact one."""
    docs = docs_of(rendered["defaults"])
    broken = []
    for breakage in BREAKAGES:
        doc = breakage(docs)
        doc["metadata"]["name"] = breakage.__name__.strip("_").replace("_", "-")
        broken.append(doc)
    intact = _first(docs, "Kafka")
    done = kubeconform(k8s_schemas, yaml.safe_dump_all([intact, *broken]))
    assert done.returncode != 0
    results = json.loads(done.stdout)
    refused = {r["name"] for r in results["resources"] if r["status"] != "statusValid"}
    assert refused == {doc["metadata"]["name"] for doc in broken}
    assert results["summary"]["valid"] == 1


def test_helm_lint_is_clean(tools: None) -> None:
    for args in VALUE_SETS.values():
        done = subprocess.run(
            [str(HELM), "lint", "--strict", str(CHART), *KUBE, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_secrets_created_by_the_chart_must_hold_the_shared_keys(tools: None) -> None:
    """A pod must never generate its own JWT or master key: the chart refuses to create the
    Secret without them."""
    done = subprocess.run(
        [str(HELM), "template", "films", str(CHART), *KUBE, "--set", "secrets.create=true"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "FILMSTUDIO_JWT_SECRET is required" in done.stderr


# --- The studio's processes


def _command_parses(command: list[str]) -> None:
    """`command` is one the `filmstudio` CLI accepts (its options and stage names included)."""
    assert command[0] == "filmstudio", command
    group_ctx = click.Context(cli)
    sub = cli.get_command(group_ctx, command[1])
    assert sub is not None, f"no `filmstudio {command[1]}` command"
    sub.make_context(command[1], list(command[2:]), parent=group_ctx)  # raises on a bad one


def test_every_deployment_runs_a_real_command(manifests: list[Manifest]) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        command = containers(deployment)[0]["command"]
        if name.endswith("-api"):
            assert "filmstudio.bootstrap:api_app" in command and "--factory" in command
        else:
            _command_parses(command)


def _process_name(command: list[str]) -> str:
    """The studio_processes() name a Deployment's command stands for."""
    if "filmstudio.bootstrap:api_app" in command:
        return "api"
    if command[1] == "workers":
        return "final-workers" if "final" in command else "workers"
    if command[1] == "projections":
        return "analytics" if "analytics" in command else "projections"
    return command[1]


def test_every_process_of_the_local_stack_has_a_deployment(production: list[Manifest]) -> None:
    deployments = of_kind(production, "Deployment").values()
    commands = [containers(d)[0]["command"] for d in deployments]
    names = {_process_name(c) for c in commands}
    expected = {spec.name for spec in studio_processes(Settings(), every=True)}
    assert names == expected
    draft = {c[-1] for c in commands if c[1:2] == ["workers"] and "draft" in c}
    final = {c[-1] for c in commands if c[1:2] == ["workers"] and "final" in c}
    assert draft == set(STAGES)
    assert final == set(FINAL_QUALITY_STAGES)


def test_every_deployment_has_probes_resources_and_the_settings(manifests: list[Manifest]) -> None:
    config = next(iter(of_kind(manifests, "ConfigMap").values()))["data"]
    for name, deployment in of_kind(manifests, "Deployment").items():
        container, *sidecars = containers(deployment)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, f"{name} has no {probe}"
        if name.endswith("-api"):
            paths = {container[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")}
            assert paths == {"/healthz", "/readyz"}
        else:
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert heartbeat.ENV in env
            ready = " ".join(container["readinessProbe"]["exec"]["command"])
            assert f"-lt {int(heartbeat.STALE)}" in ready and heartbeat.ENV in ready
            # its metrics, from prometheus_client's multiprocess files, served by a sidecar
            (metrics,) = sidecars
            shared = {e["name"]: e["value"] for e in metrics["env"]}
            assert env["PROMETHEUS_MULTIPROC_DIR"] == shared["PROMETHEUS_MULTIPROC_DIR"]
            assert "MultiProcessCollector(registry)" in metrics["command"][-1]
            assert "memory" in metrics["resources"]["limits"]
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        assert {"cpu", "memory"} <= set(requests) and "memory" in limits, name
        assert {"configMapRef", "secretRef"} == {k for e in container["envFrom"] for k in e}
    fields = set(Settings.model_fields)
    for key in config:
        assert key.startswith("FILMSTUDIO_") and key.removeprefix("FILMSTUDIO_").lower() in fields


def _generated_secrets() -> set[str]:
    """The settings a process generates when unset (`settings.secret(name)` in the code)."""
    found: set[str] = set()
    for package in ("adapters", "api", "commands", "processors", "projections", "filmstudio"):
        for source in (ROOT / package).rglob("*.py"):
            found |= set(re.findall(r"\.secret\(\"(\w+)\"\)", source.read_text()))
    return found


def test_every_pod_must_share_the_secrets_a_process_would_generate(
    manifests: list[Manifest],
) -> None:
    wanted = {f"FILMSTUDIO_{name.upper()}" for name in _generated_secrets()}
    assert "FILMSTUDIO_MASTER_KEY" in wanted
    for name, deployment in of_kind(manifests, "Deployment").items():
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in containers(deployment)[0]["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        for variable in wanted:  # not optional: the pod does not start without it
            assert refs[variable]["key"] == variable and not refs[variable].get("optional"), name


def test_gpu_stages_request_gpus_and_scale_on_their_own_consumer_group(
    manifests: list[Manifest],
) -> None:
    deployments = of_kind(manifests, "Deployment")
    scaled = lag_scalers(manifests)
    gpu_stages = set()
    for name, deployment in deployments.items():
        command = containers(deployment)[0]["command"]
        resources = containers(deployment)[0]["resources"]
        if "final" not in command:
            assert "nvidia.com/gpu" not in resources["requests"], name
            assert name not in scaled
            continue
        stage = command[-1]
        gpu_stages.add(stage)
        assert int(resources["requests"]["nvidia.com/gpu"]) >= 1
        assert "replicas" not in deployment["spec"], "KEDA owns a GPU pool's replica count"
        (trigger,) = scaled[name]["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        topic = TOPICS.work(stage, "final")
        assert trigger["metadata"]["topic"] == topic
        # gpu_consumers/worker.py names the group after its topic
        assert trigger["metadata"]["consumerGroup"] == topic.replace(".work.", ".workers.", 1)
        assert scaled[name]["spec"]["maxReplicaCount"] > scaled[name]["spec"]["minReplicaCount"]
    assert gpu_stages == set(FINAL_QUALITY_STAGES)
    volumes = {
        v["name"]: v
        for d in deployments.values()
        if "final" in containers(d)[0]["command"]
        for v in d["spec"]["template"]["spec"]["volumes"]
    }
    assert volumes["models"]["persistentVolumeClaim"]["readOnly"] is True


def test_no_pool_outnumbers_its_topics_partitions(manifests: list[Manifest]) -> None:
    """A consumer group has at most one active consumer per partition: more replicas idle."""
    partitions = {
        t["spec"]["topicName"]: t["spec"]["partitions"]
        for t in of_kind(manifests, "KafkaTopic").values()
    }
    for scaled in lag_scalers(manifests).values():
        (trigger,) = scaled["spec"]["triggers"]
        assert scaled["spec"]["maxReplicaCount"] <= partitions[trigger["metadata"]["topic"]]
    for deployment in of_kind(manifests, "Deployment").values():
        command = containers(deployment)[0]["command"]
        if command[1:2] == ["workers"] and "draft" in command:
            assert deployment["spec"]["replicas"] <= partitions[TOPICS.work(command[-1])]


def test_the_api_autoscales_and_the_relay_has_a_standby(manifests: list[Manifest]) -> None:
    deployments = of_kind(manifests, "Deployment")
    api = next(n for n in deployments if n.endswith("-api"))
    hpas = list(of_kind(manifests, "HorizontalPodAutoscaler").values())
    keda = [
        s
        for s in of_kind(manifests, "ScaledObject").values()
        if s not in lag_scalers(manifests).values()
    ]
    (scaler,) = hpas + keda  # a plain HPA on CPU, or KEDA's on CPU and p95 latency
    assert scaler["spec"]["scaleTargetRef"]["name"] == api
    assert "replicas" not in deployments[api]["spec"], "the autoscaler owns the count"
    if hpas:
        assert scaler["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    else:
        cpu, latency = scaler["spec"]["triggers"]
        assert cpu["type"] == "cpu" and latency["type"] == "prometheus"
        assert "studio_http_request_seconds_bucket" in latency["metadata"]["query"]
    relay = next(d for n, d in deployments.items() if n.endswith("-relay"))
    assert relay["spec"]["replicas"] == 2
    covered = [
        p["spec"]["selector"]["matchLabels"]
        for p in of_kind(manifests, "PodDisruptionBudget").values()
    ]
    for name in ("-api", "-relay"):
        deployment = next(d for n, d in deployments.items() if n.endswith(name))
        assert any(sel.items() <= pod_labels(deployment).items() for sel in covered), name


# --- Kafka


def test_topics_are_the_catalogue_replicated_three_times(manifests: list[Manifest]) -> None:
    topics = {t["spec"]["topicName"]: t for t in of_kind(manifests, "KafkaTopic").values()}
    assert set(topics) == {TOPICS.name(spec) for spec in CATALOGUE}
    for spec in CATALOGUE:
        topic = topics[TOPICS.name(spec)]["spec"]
        assert topic["replicas"] == 3
        assert topic["config"]["min.insync.replicas"] == 2
        assert topic["config"]["retention.ms"] == spec.retention_ms
        assert topic["config"]["cleanup.policy"] == spec.cleanup_policy
        if spec.partitions is not None:
            assert topic["partitions"] == spec.partitions


def test_kafka_is_kraft_with_tls_and_acls(manifests: list[Manifest]) -> None:
    (kafka,) = of_kind(manifests, "Kafka").values()
    pools = of_kind(manifests, "KafkaNodePool").values()
    roles = {role: pool["spec"]["replicas"] for pool in pools for role in pool["spec"]["roles"]}
    assert roles["controller"] >= 3 and roles["broker"] >= 3
    assert all(
        p["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"] for p in pools
    )
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True and listener["authentication"]["type"] == "tls"
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False


def _acls(user: Manifest) -> Iterator[tuple[str, str, str, str]]:
    for acl in user["spec"]["authorization"]["acls"]:
        resource = acl["resource"]
        for operation in acl["operations"]:
            yield resource["type"], resource["name"], resource["patternType"], operation


def test_each_component_has_its_own_least_privilege_kafka_user(manifests: list[Manifest]) -> None:
    users = of_kind(manifests, "KafkaUser")
    for name, deployment in of_kind(manifests, "Deployment").items():
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["kafka-user"]["secret"]["secretName"] in users, name
    for name, user in users.items():
        for kind, resource, _pattern, operation in _acls(user):
            assert operation != "All" and resource != "*", name
            if operation == "Write" and resource.startswith(f"{PREFIX}.events"):
                assert name.endswith("-relay"), f"{name} may write events"
            if kind == "transactionalId":
                assert name.endswith("-relay") and resource == TOPICS.group("relay")
    relay = next(u for n, u in users.items() if n.endswith("-relay"))
    assert ("transactionalId", TOPICS.group("relay"), "literal", "Write") in set(_acls(relay))
    for stage in FINAL_QUALITY_STAGES:
        worker = next(u for n, u in users.items() if n.endswith(f"-gpu-{stage.replace('_', '-')}"))
        reads = {r for k, r, _, op in _acls(worker) if k == "topic" and op == "Read"}
        assert reads == {TOPICS.work(stage, "final")}


# --- PostgreSQL


def test_postgres_has_a_replica_and_backups(manifests: list[Manifest]) -> None:
    (cluster,) = of_kind(manifests, "Cluster").values()
    assert cluster["spec"]["instances"] >= 2
    assert cluster["spec"]["backup"]["barmanObjectStore"]["destinationPath"].startswith("s3://")
    (scheduled,) = of_kind(manifests, "ScheduledBackup").values()
    assert scheduled["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    config = next(iter(of_kind(manifests, "ConfigMap").values()))["data"]
    assert config["FILMSTUDIO_PG_HOST"] == f"{cluster['metadata']['name']}-rw"


def test_point_in_time_recovery_reads_the_old_archive_and_writes_a_new_one(
    rendered: dict[str, str],
) -> None:
    (cluster,) = of_kind(docs_of(rendered["recovery"]), "Cluster").values()
    recovery = cluster["spec"]["bootstrap"]["recovery"]
    assert recovery["recoveryTarget"]["targetTime"] == "2026-12-01 09:59:00+00"
    (origin,) = cluster["spec"]["externalClusters"]
    assert origin["name"] == recovery["source"]
    archive = cluster["spec"]["backup"]["barmanObjectStore"]
    assert origin["barmanObjectStore"]["serverName"] != archive["serverName"]
    assert "initdb" not in cluster["spec"]["bootstrap"]


# --- Reachability


def _selects(policy: Manifest, labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return bool(wanted.items() <= labels.items())


def test_only_the_api_is_reachable_from_outside(manifests: list[Manifest]) -> None:
    policies = of_kind(manifests, "NetworkPolicy").values()
    for name, deployment in of_kind(manifests, "Deployment").items():
        labels = pod_labels(deployment)
        selecting = [p for p in policies if _selects(p, labels)]
        assert any("Ingress" in p["spec"]["policyTypes"] for p in selecting), f"{name} is open"
        rules = [rule for p in selecting for rule in p["spec"].get("ingress", [])]
        api_rules = [r for r in rules if r["ports"] == [{"port": 8000, "protocol": "TCP"}]]
        assert len(api_rules) == name.endswith("-api"), name
        for rule in rules:  # else nothing but Prometheus, from its namespace, on the metrics port
            if rule in api_rules:
                continue
            assert rule["ports"] == [{"port": 9464, "protocol": "TCP"}], name
            assert rule["from"] and all(
                set(peer) == {"namespaceSelector"}
                and peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                == "monitoring"
                for peer in rule["from"]
            ), name
    (ingress,) = of_kind(manifests, "Ingress").values()
    backends = {
        p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert backends == {n for n in of_kind(manifests, "Service") if n.endswith("-api")}


# --- Images


def _stages(dockerfile: str) -> dict[str, str]:
    """Each build stage's instructions, by its name."""
    parts = re.split(r"^FROM \S+ AS (\S+)\n", dockerfile, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_images_are_multi_stage_unprivileged_and_without_weights() -> None:
    stages = _stages(DOCKERFILE.read_text())
    assert {"web", "build", "cpu", "gpu"} <= set(stages)
    for target in ("cpu", "gpu"):
        assert re.search(r"^USER 10001", stages[target], re.MULTILINE), target
        assert "models/" not in stages[target] and ".state" not in stages[target]
    assert "'.[models]'" in stages["gpu"] and "[models]" not in stages["cpu"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".state", ".build", "web/node_modules"} <= set(ignored)
