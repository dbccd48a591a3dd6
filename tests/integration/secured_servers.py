"""Servers set up the way a secured production is: a throwaway CA (openssl), a Kafka broker with only a
SASL_SSL listener and SCRAM users, and a redis-server with only a TLS port, client certificates
required, the `default` user off and one ACL user confined to a key prefix.

The broker is benchmarks/servers.py's private Kafka (the stack's jars, KRaft, one node) with other
listeners. Ports are fixed in 19560-19569, the range given to this test: below Linux's ephemeral
range (32768-60999), so no client's outgoing connection can hold one of them as its own port when
a server here binds it (at 39092 a CI run once found its Redis port taken that way).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.servers import PrivateKafka, port_open, stop, wait_port

KAFKA_PORT = 19560
CONTROLLER_PORT = 19561
REDIS_PORT = 19562
WORKER_METRICS_PORT = 19563


# ------------------------------------------------------------------ the CA


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: a client trusting only it must refuse the servers


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _new_ca(d: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "1", "-subj", f"/CN=contact-router {name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip


def _signed(d: Path, name: str, extensions: str) -> None:
    (d / f"{name}.ext").write_text(extensions)
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext", cwd=d,
    )  # fmt: skip


def make_pki(d: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, valid for a day."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is missing (Debian's openssl package)")
    d.mkdir(parents=True, exist_ok=True)
    _new_ca(d, "ca")
    _new_ca(d, "other-ca")
    # clientAuth too: the broker is its own inter-broker client, and must present a certificate.
    _signed(d, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    _signed(d, "client", "extendedKeyUsage=clientAuth\n")
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key", d / "other-ca.pem")


# ------------------------------------------------------------------ Kafka


@dataclass(frozen=True)
class KafkaUser:
    name: str
    password: str


class SecuredKafka(PrivateKafka):
    """One KRaft node whose only client listener is SASL_SSL (SCRAM-SHA-256/512, client certificate
    required); its controller listener is plaintext on loopback, as in deploy/stack."""

    cluster_id = "tls-test-cluster-0001"

    def __init__(self, workdir: Path, pki: Pki, user: KafkaUser) -> None:
        super().__init__(workdir, KAFKA_PORT, CONTROLLER_PORT)
        self.pki = pki
        self.user = user

    def listener_properties(self) -> str:
        # A PEM keystore: the server's key followed by its certificate.
        keystore = self.workdir / "server-keystore.pem"
        keystore.write_text(self.pki.server_key.read_text() + self.pki.server_cert.read_text())
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{self.user.name}" password="{self.user.password}";'
        )
        return f"""listeners=SASL_SSL://127.0.0.1:{KAFKA_PORT},CONTROLLER://127.0.0.1:{CONTROLLER_PORT}
advertised.listeners=SASL_SSL://127.0.0.1:{KAFKA_PORT}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={jaas}
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={self.pki.ca}
listener.name.sasl_ssl.ssl.client.auth=required
"""

    def format_arguments(self) -> list[str]:
        # KRaft bootstraps SCRAM users at format time (Kafka >= 3.5): no plaintext listener is ever needed.
        scram = f"[name={self.user.name},password={self.user.password}]"
        return ["--add-scram", f"SCRAM-SHA-256={scram}", "--add-scram", f"SCRAM-SHA-512={scram}"]


# ------------------------------------------------------------------ Redis


class SecuredRedis:
    """redis-server with only a TLS port (client certificates required), `default` off and one ACL
    user that may touch only keys under its prefix."""

    def __init__(self, workdir: Path, pki: Pki, user: str, password: str, key_prefix: str) -> None:
        self.workdir = workdir
        self.pki = pki
        self.user = user
        self.password = password
        self.key_prefix = key_prefix
        self.url = f"rediss://127.0.0.1:{REDIS_PORT}/0"
        self.log = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is missing: deploy/stack up installs it")
        if port_open(REDIS_PORT):
            raise RuntimeError(f"127.0.0.1:{REDIS_PORT} is taken: another secured test running?")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server", "--bind", "127.0.0.1", "--port", "0", "--tls-port", str(REDIS_PORT),
                "--tls-cert-file", str(self.pki.server_cert), "--tls-key-file", str(self.pki.server_key),
                "--tls-ca-cert-file", str(self.pki.ca), "--tls-auth-clients", "yes",
                "--dir", str(self.workdir), "--save", "", "--appendonly", "no", "--logfile", str(self.log),
                "--user", "default", "off",
                # Every command but the dangerous ones (FLUSHALL, KEYS, CONFIG, ...), on our keys only.
                "--user", self.user, "on", f">{self.password}", f"~{self.key_prefix}:*", "+@all", "-@dangerous",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.log.touch()
        wait_port(REDIS_PORT, 10, "redis-server", self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
