"""The deployed shape of Gastregister, started part by part on this machine.

Each part is a process group of its own, as it would be a host or a service of its
own in a town's data centre: PostgreSQL (its own cluster, so it can be stalled and
restarted without touching anything else), Redis, a real SMTP server, two app hosts
(gunicorn in production mode from a wheel installed in a fresh virtualenv), the
maintenance runner, and nginx terminating TLS in front of the app hosts.

The configuration is the one shipped for operators in deploy/: the nginx site, the
systemd units' ExecStart lines and the environment template. Only the values an
operator would fill in for their site are replaced (host name, ports, paths,
secrets); `SITE_VALUES` lists them, and docs/OPERATIONS.md says the same.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
DEPLOY = REPOSITORY / "deploy"
INSTALL_PREFIX = "/opt/gastregister/venv"
STATE_DIRECTORY = "/var/lib/gastregister"
PUBLIC_HOST = "localhost"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready within {timeout} s")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def run(
    argv: list[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    """A command that must succeed; its output is part of the error if it does not."""
    result = subprocess.run(
        argv,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        text=True,
        capture_output=True,
        **kw,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(argv)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


@dataclass
class Service:
    """One process group: a host or a server of its own."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=self.user,
            )

    @property
    def pgid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def send_signal(self, signum: int) -> None:
        os.killpg(self.pgid, signum)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.pgid, signal.SIGCONT)
                os.killpg(self.pgid, signum)
                self.process.wait(timeout=timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)  # anything left of the group
        self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """A host dies: SIGKILL to the whole group, no clean-up of any kind."""
        self.stop(signal.SIGKILL, timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def read_env_template(path: Path = DEPLOY / "gastregister.env") -> dict[str, str]:
    """KEY=value lines of the shipped environment file, as systemd reads them."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    path.chmod(0o600)


def unit_command(unit: str, venv: Path, state: Path) -> tuple[list[str], Path]:
    """ExecStart and WorkingDirectory of a shipped systemd unit, for this install."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DEPLOY / "systemd" / unit, encoding="utf-8")
    service = parser["Service"]
    argv = [
        part.replace(INSTALL_PREFIX, str(venv)).replace(STATE_DIRECTORY, str(state))
        for part in shlex.split(service["ExecStart"])
    ]
    workdir = Path(service["WorkingDirectory"].replace(STATE_DIRECTORY, str(state)))
    return argv, workdir


@dataclass
class Postgres:
    """A PostgreSQL cluster of its own (run as the postgres user, as Debian does)."""

    root: Path
    port: int
    service: Service | None = None

    @property
    def bindir(self) -> Path:
        return sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))[-1].parent

    @property
    def data(self) -> Path:
        return self.root / "pgdata"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root, "postgres", "postgres")
        run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )

    def start(self) -> None:
        self.service = Service(
            "postgresql",
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.root}",
                "-c",
                "max_connections=200",
            ],
            self.root / "postgresql.log",
            user="postgres",
        )
        self.service.start()
        wait_until(self.ready, 30, "PostgreSQL")

    def ready(self) -> bool:
        probe = subprocess.run(
            [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
        )
        return probe.returncode == 0

    def stall(self) -> None:
        """Every PostgreSQL process stops (SIGSTOP): connections stay open, nothing answers."""
        for pid in self.processes():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGCONT)

    def processes(self) -> list[int]:
        """The postmaster and its children (which each call setsid(), so no process
        group holds them all)."""
        if self.service is None or self.service.process is None:
            raise RuntimeError("PostgreSQL is not running")
        postmaster = self.service.process.pid
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def restart(self) -> None:
        """Fast shutdown (SIGINT: sessions are ended) and start again, as `systemctl restart`."""
        if self.service is not None:
            self.service.stop(signal.SIGINT)
        self.start()

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop(signal.SIGINT)

    def psql(self, sql: str, database: str = "postgres") -> str:
        return run(
            [
                str(self.bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ]
        ).stdout


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost, standing in for the one certbot would fetch."""
    folder.mkdir(parents=True, exist_ok=True)
    certificate, key = folder / "fullchain.pem", folder / "privkey.pem"
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={PUBLIC_HOST}",
            "-addext",
            f"subjectAltName=DNS:{PUBLIC_HOST}",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ]
    )
    return certificate, key


def nginx_site(
    *,
    http_port: int,
    https_port: int,
    app_ports: list[int],
    certificate: Path,
    key: Path,
    public_root: Path,
    logs: Path,
) -> str:
    """deploy/nginx/gastregister.conf with this machine's site values."""
    text = (DEPLOY / "nginx" / "gastregister.conf").read_text(encoding="utf-8")
    replacements = [
        (
            "    server 127.0.0.1:8000 max_fails=1 fail_timeout=10s;\n",
            "".join(
                f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;\n" for port in app_ports
            ),
        ),
        ("/etc/letsencrypt/live/gast.example-kreis.de/fullchain.pem", str(certificate)),
        ("/etc/letsencrypt/live/gast.example-kreis.de/privkey.pem", str(key)),
        ("gast.example-kreis.de", PUBLIC_HOST),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", f"listen [::1]:{http_port};"),
        ("listen 443 ", f"listen 127.0.0.1:{https_port} "),
        ("listen [::]:443 ", f"listen [::1]:{https_port} "),
        ("root /var/lib/gastregister/public;", f"root {public_root};"),
        ("/var/log/nginx/", f"{logs}/"),
    ]
    for old, new in replacements:
        if old not in text:
            raise ValueError(f"deploy/nginx/gastregister.conf no longer contains {old!r}")
        text = text.replace(old, new)
    return text


def nginx_main_config(root: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf provides around a site, in a folder of our own."""
    temp = root / "temp"
    return f"""
user www-data;
worker_processes 2;
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/nginx-main-error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""


@dataclass
class Stack:
    """Everything the system test starts; `base_url` is what browsers and phones use."""

    root: Path
    venv: Path
    dev_python: Path
    postgres: Postgres
    redis_port: int
    smtp_port: int
    https_port: int
    http_port: int
    app_ports: list[int]
    maildir: Path
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"https://{PUBLIC_HOST}:{self.https_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql://gastregister@127.0.0.1:{self.postgres.port}/gastregister"

    def host_state(self, name: str) -> Path:
        return self.root / name

    def environment(self, name: str, bind_port: int | None = None) -> dict[str, str]:
        """The shipped env template with this site's values, as /etc/gastregister/env."""
        values = read_env_template()
        values.update(
            {
                "SECRET_KEY": self.secret_key,
                "GASTREGISTER_PUBLIC_BASE_URL": self.base_url,
                "GASTREGISTER_INSTANCE_PATH": str(self.host_state(name)),
                "DATABASE_URL": self.database_url,
                "GASTREGISTER_RATELIMIT_STORAGE": f"redis://127.0.0.1:{self.redis_port}/0",
                "GASTREGISTER_MAIL_SERVER": "127.0.0.1",
                "GASTREGISTER_MAIL_PORT": str(self.smtp_port),
                "GASTREGISTER_MAIL_USE_TLS": "false",
                "GASTREGISTER_MAIL_USERNAME": "",
                "GASTREGISTER_MAIL_PASSWORD": "",
                "GASTREGISTER_PRIVACY_CONTROLLER": "Landkreis Systemtest",
                "GASTREGISTER_WORKERS": "2",
                "GASTREGISTER_THREADS": "4",
            }
        )
        if bind_port is not None:
            values["GASTREGISTER_BIND"] = f"127.0.0.1:{bind_port}"
        # systemd's RuntimeDirectory (/run/gastregister) of this host.
        values["PROMETHEUS_MULTIPROC_DIR"] = str(self.host_state(name) / "run" / "metrics")
        state = self.host_state(name)
        state.mkdir(parents=True, exist_ok=True)
        write_env_file(state / "env", values)
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **values}

    def gastregister(self, *args: str, input: str | None = None) -> str:
        """The operator's `gastregister` command, from the installed wheel, with the env file."""
        env = self.environment("operator")
        return run(
            [str(self.venv / "bin" / "gastregister"), *args],
            env=env,
            cwd=self.host_state("operator"),
            input=input,
            start_new_session=True,
        ).stdout

    def start_app_host(self, name: str) -> Service:
        port = self.app_ports[int(name.removeprefix("app")) - 1]
        env = self.environment(name, bind_port=port)
        argv, workdir = unit_command("gastregister.service", self.venv, self.host_state(name))
        service = Service(name, argv, self.root / "logs" / f"{name}.log", env=env, cwd=workdir)
        service.start()
        wait_until(lambda: port_open(port), 60, f"app host {name}")
        self.services[name] = service
        return service

    def start_worker(self) -> Service:
        env = self.environment("worker")
        argv, workdir = unit_command(
            "gastregister-worker.service", self.venv, self.host_state("worker")
        )
        service = Service("worker", argv, self.root / "logs" / "worker.log", env=env, cwd=workdir)
        service.start()
        self.services["worker"] = service
        return service

    def start_nginx(self) -> Service:
        certificate, key = make_certificate(self.root / "tls")
        public = self.root / "public"
        self.gastregister("static-export", str(public / "static"))
        for folder in (self.root / "logs", self.root / "temp"):
            folder.mkdir(parents=True, exist_ok=True)
        site = self.root / "gastregister-site.conf"
        site.write_text(
            nginx_site(
                http_port=self.http_port,
                https_port=self.https_port,
                app_ports=self.app_ports,
                certificate=certificate,
                key=key,
                public_root=public,
                logs=self.root / "logs",
            ),
            encoding="utf-8",
        )
        main = self.root / "nginx.conf"
        main.write_text(nginx_main_config(self.root, site), encoding="utf-8")
        run(["nginx", "-t", "-c", str(main), "-p", str(self.root)])
        service = Service(
            "nginx", ["nginx", "-c", str(main), "-p", str(self.root)], self.root / "logs/nginx.log"
        )
        service.start()
        wait_until(lambda: port_open(self.https_port), 20, "nginx")
        self.services["nginx"] = service
        return service

    def stop_all(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        self.postgres.stop()


def install_wheel(root: Path) -> Path:
    """Build the wheel and install it into a fresh virtualenv outside the checkout."""
    dist = root / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(REPOSITORY)],
        cwd=root,
    )
    [wheel] = dist.glob("gastregister-*.whl")
    venv = root / "venv"
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    run([str(base_python), "-m", "venv", str(venv)], cwd=root)
    run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
        cwd=root,
    )
    return venv


def http_get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    """GET without certificate checks (the test's own certificate), for probes."""
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
