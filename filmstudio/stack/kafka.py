"""A local Apache Kafka in KRaft mode, run from Maven jars: one node (broker + controller), or
`kafka_brokers` such nodes forming one cluster (a static controller quorum of all of them)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from adapters import kafka as kafka_client
from adapters.settings import PROJECT_ROOT, Settings
from filmstudio import procutil
from filmstudio.procutil import ServiceError

KAFKA_VERSION = "4.3.1"
DEPLOY_DIR = PROJECT_ROOT / "deploy" / "local" / "kafka"
POM = DEPLOY_DIR / "pom.xml"
REQUIRED_JARS = (f"kafka_2.13-{KAFKA_VERSION}.jar", f"kafka-tools-{KAFKA_VERSION}.jar")

TOOLS = {
    "topics": "org.apache.kafka.tools.TopicCommand",
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
}


def libs_dir(settings: Settings) -> Path:
    return settings.build_dir / "kafka" / "libs"


def state_dir(settings: Settings) -> Path:
    return settings.state_dir / "kafka"


def node_dir(settings: Settings, node: int = 0) -> Path:
    """Node `node`'s folder (0-based): the first node's is `state_dir` itself."""
    return state_dir(settings) if node == 0 else state_dir(settings) / f"node-{node + 1}"


def pid_file(settings: Settings, node: int = 0) -> Path:
    return node_dir(settings, node) / "kafka.pid"


def log_file(settings: Settings, node: int = 0) -> Path:
    """A node's own log (stdout/stderr of the JVM go next to it, in ``kafka.out``)."""
    return node_dir(settings, node) / "logs" / "server.log"


def nodes(settings: Settings) -> range:
    return range(settings.kafka_brokers)


def broker_address(settings: Settings, node: int) -> tuple[str, int]:
    host, port = procutil.split_hostport(kafka_client.bootstrap_servers(settings)[node])
    return host, port


def controller_address(settings: Settings, node: int) -> tuple[str, int]:
    host, _ = broker_address(settings, node)
    return host, settings.kafka_controller_port + 2 * node


def ensure_jars(settings: Settings) -> bool:
    """Resolve the Kafka jars from Maven Central into the build folder; False if already there."""
    libs = libs_dir(settings)
    marker = libs / ".resolved"
    if marker.exists() and marker.stat().st_mtime >= POM.stat().st_mtime:
        return False
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    result = subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(f"Maven could not resolve the Kafka jars:\n{result.stdout[-4000:]}")
    missing = [jar for jar in REQUIRED_JARS if not (staging / jar).exists()]
    if missing:
        raise ServiceError(f"Maven did not resolve {missing}")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    (libs / ".resolved").touch()
    return True


def java_command(
    settings: Settings, main_class: str, *args: str, tool: bool = True, node: int = 0
) -> list[str]:
    """The ``java`` command line running ``main_class`` from the Kafka jars."""
    log_config = DEPLOY_DIR / ("tools-log4j2.properties" if tool else "log4j2.properties")
    return [
        "java",
        *(["-Xmx256m"] if tool else settings.kafka_heap.split()),
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log_config}",
        f"-Dkafka.logs.dir={node_dir(settings, node) / 'logs'}",
        "-cp",
        f"{libs_dir(settings)}/*",
        main_class,
        *args,
    ]


def server_properties(settings: Settings, node: int = 0) -> str:
    """Node `node`'s configuration: broker and controller in one process. One node is its own
    quorum (formatted `--standalone`); several form a static quorum of all of them, and the
    internal topics get three replicas of which two must have each write."""
    host, port = broker_address(settings, node)
    controller = "{}:{}".format(*controller_address(settings, node))
    count = settings.kafka_brokers
    replicas, min_isr = str(min(3, count)), str(min(2, count))
    quorum = (
        {"controller.quorum.bootstrap.servers": controller}
        if count == 1
        else {
            "controller.quorum.voters": ",".join(
                "{}@{}:{}".format(i + 1, *controller_address(settings, i)) for i in nodes(settings)
            )
        }
    )
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node + 1),
        **quorum,
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(node_dir(settings, node) / "data"),
        "num.partitions": str(settings.topic_partitions),
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def _cluster_id() -> str:
    """A random cluster id in Kafka's format (URL-safe base64 of 16 bytes, not starting '-')."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _check_node_count(settings: Settings) -> None:
    """Refuse to start a formatted cluster with another number of nodes than it was made with."""
    marker = state_dir(settings) / "nodes"
    if not (state_dir(settings) / "data" / "meta.properties").exists():
        return
    formatted = int(marker.read_text()) if marker.exists() else 1
    if formatted != settings.kafka_brokers:
        raise ServiceError(
            f"the Kafka data in {state_dir(settings)} is a {formatted}-node cluster; start it with "
            f"FILMSTUDIO_KAFKA_BROKERS={formatted} (or `stack up --brokers {formatted}`), or stop "
            "it and remove that folder for a new one"
        )


def _format_storage(settings: Settings, node: int, config: Path) -> None:
    """Format a node's KRaft storage once (all nodes share one cluster id); a formatted log
    directory is left alone."""
    if (node_dir(settings, node) / "data" / "meta.properties").exists():
        return
    id_file = state_dir(settings) / "cluster.id"
    if not id_file.exists():
        id_file.write_text(_cluster_id())
    standalone = ["--standalone"] if settings.kafka_brokers == 1 else []
    subprocess.run(
        java_command(
            settings,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            id_file.read_text().strip(),
            "-c",
            str(config),
            *standalone,
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if node == 0:
        (state_dir(settings) / "nodes").write_text(str(settings.kafka_brokers))


def running_pid(settings: Settings, node: int = 0) -> int | None:
    """The pid of this installation's node `node`, if it runs."""
    return procutil.read_pidfile(pid_file(settings, node))


def running_nodes(settings: Settings) -> list[int]:
    """The nodes of this installation that run."""
    return [node for node in nodes(settings) if running_pid(settings, node) is not None]


def ready(settings: Settings, timeout: float = 2.0) -> bool:
    """Whether the cluster answers metadata requests with every node as a live broker."""
    admin = kafka_client.admin_client(settings, log_level=0)
    try:
        return len(admin.list_topics(timeout=timeout).brokers) >= settings.kafka_brokers
    except Exception:  # any failure means "not ready yet"
        return False


def start(settings: Settings, timeout: float = 90.0) -> bool:
    """Start the nodes that do not run and wait until every one is a live broker; False if all
    already ran."""
    _check_node_count(settings)
    stopped = [node for node in nodes(settings) if running_pid(settings, node) is None]
    if not stopped:
        wait_ready(settings, timeout)
        return False
    for node in stopped:
        for host, busy in (broker_address(settings, node), controller_address(settings, node)):
            if procutil.port_in_use(host, busy):
                raise ServiceError(
                    f"port {busy} is taken by another process (another stack?); stop it or set "
                    "FILMSTUDIO_KAFKA_BOOTSTRAP / FILMSTUDIO_KAFKA_CONTROLLER_PORT"
                )
    ensure_jars(settings)
    for node in stopped:
        _start_node(settings, node)
    wait_ready(settings, timeout)
    return True


def _start_node(settings: Settings, node: int) -> None:
    home = node_dir(settings, node)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    config = home / "server.properties"
    config.write_text(server_properties(settings, node))
    _format_storage(settings, node, config)
    with open(home / "logs" / "kafka.out", "ab") as out:
        process = subprocess.Popen(
            java_command(settings, "kafka.Kafka", str(config), tool=False, node=node),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
            start_new_session=True,
        )
    procutil.write_pidfile(pid_file(settings, node), process.pid)
    _CHILDREN.append(process)


def wait_ready(settings: Settings, timeout: float = 90.0) -> None:
    """Wait for every node; fail early, with its log, if a JVM died."""

    def check() -> bool:
        for node in nodes(settings):
            if running_pid(settings, node) is None:
                out = node_dir(settings, node) / "logs" / "kafka.out"
                raise ServiceError(
                    f"Kafka node {node + 1} exited during start-up:\n"
                    + procutil.tail(out)
                    + "\n"
                    + procutil.tail(log_file(settings, node))
                )
        return ready(settings)

    where = ",".join(kafka_client.bootstrap_servers(settings))
    procutil.wait_until(check, timeout, f"Kafka on {where}", interval=0.5)


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop every node cleanly (SIGTERM, SIGKILL after ``timeout``), whatever the node count
    setting; False if none was running."""
    pid_files = [pid_file(settings), *sorted(state_dir(settings).glob("node-*/kafka.pid"))]
    stopped = False
    for path in pid_files:
        pid = procutil.read_pidfile(path)
        if pid is not None:
            procutil.terminate(pid, timeout)
            stopped = True
        path.unlink(missing_ok=True)
    return stopped


def tool_command(settings: Settings, tool: str, args: list[str]) -> list[str]:
    """Command line for one of Kafka's CLI tools (see ``TOOLS``) against the local broker."""
    if "--bootstrap-server" not in args:
        args = ["--bootstrap-server", ",".join(kafka_client.bootstrap_servers(settings)), *args]
    return java_command(settings, TOOLS[tool], *args)


_CHILDREN: list[subprocess.Popen[bytes]] = []  # keeps Popen objects alive while the broker runs
