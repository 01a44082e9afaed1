"""Run the shipped nginx site (deploy/nginx/course.conf) on loopback, for tests and the bench.

The site file is used as shipped: only its addresses (listen ports, upstream servers) and paths
(certificate, STATIC_ROOT) are swapped. The top-level nginx.conf, which on Debian comes with the
package, is written here with its own pid, log and temp paths so nginx runs as a child process.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "course.conf"
DAPHNE_UNIT = ROOT / "deploy" / "systemd" / "course-daphne@.service"
HOST = "course.example.com"
# The access log says which daphne served each request ("-" when nginx answered itself).
LOG_FORMAT = "$request_method $request_uri $status $upstream_addr"


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def ensure_nginx() -> str | None:
    """nginx's path; as root, install Debian's package when it is missing (like .ci/run)."""
    if nginx_binary() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return nginx_binary()


def daphne_flags() -> list[str]:
    """The daphne options of the shipped systemd unit, minus the address and the application."""
    text = DAPHNE_UNIT.read_text().replace("\\\n", " ")
    words = re.search(r"^ExecStart=(.*)$", text, re.M).group(1).split()[1:]
    flags = []
    while words:
        word = words.pop(0)
        if word in ("--bind", "--port"):
            words.pop(0)
        elif not word.endswith(":application"):
            flags.append(word)
    return flags


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-keyout", str(key), "-out", str(cert),
            "-addext", f"subjectAltName=DNS:{HOST},IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise AssertionError(f"{SITE} no longer contains {old!r}: update tests/nginx_process.py")
    return text.replace(old, new)


def _ipv6_loopback() -> str:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return "[::1]"
    except OSError:
        return "127.0.0.2"  # the second listen line still needs an address of its own


def render_site(
    *, upstreams: Sequence[int], http: int, https: int, cert: Path, key: Path, static: Path
) -> str:
    text = SITE.read_text()
    servers = re.findall(r"^( *server 127\.0\.0\.1:\d+)( .*;)$", text, re.M)
    if not servers:
        raise AssertionError(f"{SITE} has no upstream server lines")
    indent_params = servers[0][1]
    block = "\n".join(f"    server 127.0.0.1:{port}{indent_params}" for port in upstreams)
    text = re.sub(r"(?:^ *server 127\.0\.0\.1:\d+ .*;\n)+", block + "\n", text, flags=re.M)
    v6 = _ipv6_loopback()
    text = _replace(text, "listen 80;", f"listen 127.0.0.1:{http};")
    text = _replace(text, "listen [::]:80;", f"listen {v6}:{http};")
    text = _replace(text, "listen 443 ssl", f"listen 127.0.0.1:{https} ssl")
    text = _replace(text, "listen [::]:443 ssl", f"listen {v6}:{https} ssl")
    text = _replace(text, f"/etc/letsencrypt/live/{HOST}/fullchain.pem", str(cert))
    text = _replace(text, f"/etc/letsencrypt/live/{HOST}/privkey.pem", str(key))
    return _replace(text, "/srv/course/staticfiles/", f"{static}/")


def main_conf(directory: Path, workers: int | str = 1) -> str:
    # Debian's nginx.conf gives the site its http context; this one keeps everything in
    # `directory`. As root, workers run as root too: the test's files live in 0700 directories.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes {workers};
worker_rlimit_nofile 16384;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 8192; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    gzip on;
{temp}
    log_format course '{LOG_FORMAT}';
    access_log {directory / "access.log"} course;
    include {directory / "course.conf"};
}}
"""


@dataclass
class Nginx:
    http: int
    https: int
    directory: Path
    pid: int

    @property
    def access_log(self) -> Path:
        return self.directory / "access.log"

    def log_lines(self) -> list[list[str]]:
        if not self.access_log.exists():
            return []
        return [line.split() for line in self.access_log.read_text().splitlines()]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port} within {timeout} s")


@contextlib.contextmanager
def nginx(
    binary: str, directory: Path, upstreams: Sequence[int], static: Path, workers: int | str = 1
) -> Iterator[Nginx]:
    """nginx in the foreground with the shipped site in front of `upstreams`; stopped after."""
    from tests.site_process import free_port

    directory.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(directory)
    http, https = free_port(), free_port()
    site = render_site(
        upstreams=upstreams, http=http, https=https, cert=cert, key=key, static=static
    )
    (directory / "course.conf").write_text(site)
    conf = directory / "nginx.conf"
    conf.write_text(main_conf(directory, workers))
    command = [binary, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t refused the rendered site:\n{checked.stderr}")
    stderr = directory / "stderr.log"
    with stderr.open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    try:
        _wait_for_port(https, process, stderr)
        yield Nginx(http=http, https=https, directory=directory, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
