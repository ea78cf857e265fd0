"""A local single-node Apache Kafka in KRaft mode (broker + controller), run from Maven jars."""

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


def pid_file(settings: Settings) -> Path:
    return state_dir(settings) / "kafka.pid"


def log_file(settings: Settings) -> Path:
    """The broker's own log (stdout/stderr of the JVM go next to it, in ``kafka.out``)."""
    return state_dir(settings) / "logs" / "server.log"


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


def java_command(settings: Settings, main_class: str, *args: str, tool: bool = True) -> list[str]:
    """The ``java`` command line running ``main_class`` from the Kafka jars."""
    log_config = DEPLOY_DIR / ("tools-log4j2.properties" if tool else "log4j2.properties")
    return [
        "java",
        *(["-Xmx256m"] if tool else settings.kafka_heap.split()),
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log_config}",
        f"-Dkafka.logs.dir={state_dir(settings) / 'logs'}",
        f"-Dfilmstudio.state={state_dir(settings)}",
        "-cp",
        f"{libs_dir(settings)}/*",
        main_class,
        *args,
    ]


def server_properties(settings: Settings) -> str:
    """The broker + controller configuration for this installation."""
    host, port = procutil.split_hostport(settings.kafka_bootstrap)
    controller = f"{host}:{settings.kafka_controller_port}"
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": controller,
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(state_dir(settings) / "data"),
        "num.partitions": str(settings.topic_partitions),
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def _cluster_id() -> str:
    """A random cluster id in Kafka's format (URL-safe base64 of 16 bytes, not starting '-')."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _format_storage(settings: Settings, config: Path) -> None:
    """Format the KRaft storage once; a formatted log directory is left alone."""
    if (state_dir(settings) / "data" / "meta.properties").exists():
        return
    subprocess.run(
        java_command(
            settings,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            _cluster_id(),
            "-c",
            str(config),
            "--standalone",
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def running_pid(settings: Settings) -> int | None:
    """The pid of this installation's broker, if it runs."""
    return procutil.read_pidfile(pid_file(settings))


def ready(settings: Settings, timeout: float = 2.0) -> bool:
    """Whether the broker answers metadata requests with itself as a live broker."""
    admin = kafka_client.admin_client(settings, log_level=0)
    try:
        return bool(admin.list_topics(timeout=timeout).brokers)
    except Exception:  # any failure means "not ready yet"
        return False


def start(settings: Settings, timeout: float = 90.0) -> bool:
    """Start the broker in the background and wait until it is ready; False if it already ran."""
    if running_pid(settings) is not None:
        wait_ready(settings, timeout)
        return False
    host, port = procutil.split_hostport(settings.kafka_bootstrap)
    for busy in (port, settings.kafka_controller_port):
        if procutil.port_in_use(host, busy):
            raise ServiceError(
                f"port {busy} is taken by another process (another stack?); stop it or set "
                "FILMSTUDIO_KAFKA_BOOTSTRAP / FILMSTUDIO_KAFKA_CONTROLLER_PORT"
            )
    ensure_jars(settings)
    home = state_dir(settings)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    config = home / "server.properties"
    config.write_text(server_properties(settings))
    _format_storage(settings, config)
    with open(home / "logs" / "kafka.out", "ab") as out:
        process = subprocess.Popen(
            java_command(settings, "kafka.Kafka", str(config), tool=False),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
            start_new_session=True,
        )
    procutil.write_pidfile(pid_file(settings), process.pid)
    _CHILDREN.append(process)
    wait_ready(settings, timeout)
    return True


def wait_ready(settings: Settings, timeout: float = 90.0) -> None:
    """Wait for the broker; fail early, with its log, if the JVM died."""

    def check() -> bool:
        if running_pid(settings) is None:
            out = state_dir(settings) / "logs" / "kafka.out"
            raise ServiceError(
                "Kafka exited during start-up:\n"
                + procutil.tail(out)
                + "\n"
                + procutil.tail(log_file(settings))
            )
        return ready(settings)

    procutil.wait_until(check, timeout, f"Kafka on {settings.kafka_bootstrap}", interval=0.5)


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop the broker cleanly (SIGTERM, SIGKILL after ``timeout``); False if it was not running."""
    pid = running_pid(settings)
    if pid is None:
        return False
    procutil.terminate(pid, timeout)
    pid_file(settings).unlink(missing_ok=True)
    return True


def tool_command(settings: Settings, tool: str, args: list[str]) -> list[str]:
    """Command line for one of Kafka's CLI tools (see ``TOOLS``) against the local broker."""
    if "--bootstrap-server" not in args:
        args = ["--bootstrap-server", settings.kafka_bootstrap, *args]
    return java_command(settings, TOOLS[tool], *args)


_CHILDREN: list[subprocess.Popen[bytes]] = []  # keeps Popen objects alive while the broker runs
