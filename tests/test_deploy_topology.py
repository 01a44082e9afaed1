"""The shipped deployment on loopback: nginx (deploy/nginx/course.conf) in front of two daphne
processes started with the systemd unit's flags, on PostgreSQL and Redis, over HTTPS."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
import websockets

from tests.fake_anthropic import Reply
from tests.nginx_process import HOST, daphne_flags, ensure_nginx, nginx
from tests.site_process import ROOT, daphnes, drop_postgres, fresh_postgres, prepare, site_env
from tests.tutor_client import shown_text
from tutor.markup import FINAL


def topology_database() -> str:
    """A database of its own, named after the suite's PostgreSQL one when there is one, so
    parallel runs with their own DATABASE_URL never share it."""
    if url := os.environ.get("TOPOLOGY_DATABASE_URL"):
        return url
    suite = os.environ.get("DATABASE_URL", "")
    if suite.startswith("postgres"):
        return suite.split("?")[0] + "_topology"
    return "postgres://postgres@127.0.0.1:5432/course_topology_test"


POSTGRES = topology_database()
REDIS = os.environ.get("TOPOLOGY_REDIS_URL", "redis://127.0.0.1:6379/12")
PASSWORD = "a long pass phrase for nginx"
USER_SCRIPT = f"""
import django; django.setup()
from django.contrib.auth import get_user_model
get_user_model().objects.create_user("proxied", password={PASSWORD!r})
"""


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def why_not() -> str | None:
    if not reachable(6379):
        return "needs Redis on 127.0.0.1:6379 (.ci/run starts it)"
    if not reachable(5432):
        return "needs PostgreSQL on 127.0.0.1:5432"
    if ensure_nginx() is None:
        return "needs Debian's nginx package (make test installs it as root)"
    return None


SKIP = why_not()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


class Browser:
    """HTTPS through nginx as a browser at https://course.example.com sees it: one cookie jar."""

    def __init__(self, port: int, tls: ssl.SSLContext) -> None:
        self.port, self.tls, self.cookies = port, tls, SimpleCookie()

    def request(self, method: str, path: str, form: dict | None = None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls, timeout=15)
        headers = {"Host": HOST}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers |= {
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"https://{HOST}",
                "X-CSRFToken": self.cookies["csrftoken"].value,
            }
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        content = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(header)
        conn.close()
        return response, content


@pytest.fixture(scope="module")
def topology(tmp_path_factory, fake_anthropic_server):
    tmp = tmp_path_factory.mktemp("topology")
    fresh_postgres(POSTGRES)
    env = site_env(
        tmp,
        DATABASE_URL=POSTGRES,
        REDIS_URL=REDIS,
        ALLOWED_HOSTS=HOST,
        CSRF_TRUSTED_ORIGINS=f"https://{HOST}",
        SECURE_COOKIES="true",
        BEHIND_HTTPS_PROXY="true",
        SECURE_SSL_REDIRECT="true",
        ANTHROPIC_API_KEY="sk-ant-topology",
        ANTHROPIC_BASE_URL=fake_anthropic_server.url,
    )
    try:
        prepare(env)
        subprocess.run([sys.executable, "-c", USER_SCRIPT], cwd=ROOT, env=env, check=True)
        with daphnes(env, 2, daphne_flags(), ready_path="/healthz") as urls:
            ports = [int(url.rsplit(":", 1)[1]) for url in urls]
            with nginx(ensure_nginx(), tmp / "nginx", ports, tmp / "static") as proxy:
                tls = ssl.create_default_context(cafile=tmp / "nginx" / "cert.pem")
                yield proxy, Browser(proxy.https, tls), tls
    finally:
        drop_postgres(POSTGRES)


def served_by(proxy, method: str, path_prefix: str, after: int = 0, timeout: float = 10) -> str:
    """The upstream nginx logged for the first matching request after line `after`.

    A websocket's line is written when it closes, so this waits for it (bounded).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for fields in proxy.log_lines()[after:]:
            if fields[0] == method and fields[1].startswith(path_prefix):
                return fields[3]
        time.sleep(0.05)
    raise AssertionError(f"nginx logged no {method} {path_prefix} within {timeout} s")


def open_tutor(proxy, cookie: str, tls: ssl.SSLContext):
    # The URI is the public one; host and port only redirect the TCP connection to loopback.
    return websockets.connect(
        f"wss://{HOST}/ws/tutor/messages-api/",
        host="127.0.0.1",
        port=proxy.https,
        ssl=tls,
        origin=f"https://{HOST}",
        additional_headers={"Cookie": f"sessionid={cookie}"},
    )


async def frames_until(socket, pattern: str, timeout: float = 15) -> list[str]:
    frames = []
    while True:
        frames.append(await asyncio.wait_for(socket.recv(), timeout))
        if re.search(pattern, frames[-1]):
            return frames


def test_plain_http_is_redirected_to_https(topology):
    proxy, _, _ = topology
    conn = http.client.HTTPConnection("127.0.0.1", proxy.http, timeout=10)
    conn.request("GET", "/lessons/messages-api/", headers={"Host": HOST})
    response = conn.getresponse()
    conn.close()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{HOST}/lessons/messages-api/"


def test_nginx_serves_health_and_hashed_static_files_itself(topology):
    proxy, browser, _ = topology
    response, body = browser.request("GET", "/healthz")
    assert response.status == 200 and json.loads(body)["status"] == "ok"
    response, page = browser.request("GET", "/")
    assert response.status == 200
    stylesheet = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page.decode()).group(1)
    start = len(proxy.log_lines())
    response, _ = browser.request("GET", stylesheet)
    assert response.status == 200
    assert response.getheader("Cache-Control") == "public, max-age=31536000, immutable"
    assert served_by(proxy, "GET", stylesheet, after=start) == "-"  # no daphne involved


@pytest.mark.asyncio
async def test_a_reply_resumes_and_stops_on_the_other_process_after_a_reload(
    topology, fake_anthropic
):
    proxy, browser, tls = topology
    # Sign in through the proxy: the log-in form over HTTPS, CSRF and a Secure session cookie.
    response, _ = browser.request("GET", "/accounts/login/")
    assert response.status == 200  # not redirected: Django sees HTTPS through X-Forwarded-Proto
    response, _ = browser.request(
        "POST", "/accounts/login/", {"username": "proxied", "password": PASSWORD}
    )
    assert response.status == 302
    assert browser.cookies["sessionid"]["secure"]
    cookie = browser.cookies["sessionid"].value

    fake_anthropic.enqueue(Reply(tokens=300, rate=20))
    start = len(proxy.log_lines())
    async with open_tutor(proxy, cookie, tls) as first:
        await first.recv()
        await first.send(json.dumps({"message": "Through nginx", "client_id": "nginx-client-1"}))
        await frames_until(first, "w0004")
    writer = served_by(proxy, "GET", "/ws/tutor/", after=start)

    # The reload: nginx takes turns between the two processes (one worker, round-robin), so
    # load the page until the writer served the latest request; the socket then goes elsewhere.
    for _ in range(3):
        start = len(proxy.log_lines())
        response, _ = browser.request("GET", "/lessons/messages-api/")
        assert response.status == 200
        if served_by(proxy, "GET", "/lessons/messages-api/", after=start) == writer:
            break
    start = len(proxy.log_lines())
    async with open_tutor(proxy, cookie, tls) as second:
        frames = await frames_until(second, "w0008")
        resumed = shown_text(frames)
        await second.send(json.dumps({"action": "stop"}))
        final = (await frames_until(second, FINAL))[-1]
    watcher = served_by(proxy, "GET", "/ws/tutor/", after=start)

    assert watcher != writer  # the reply streamed and stopped on the process not writing it
    words = [int(w) for w in re.findall(r"w(\d{4})", resumed)]
    assert words == list(range(1, len(words) + 1)) and len(words) >= 8
    assert "You stopped this reply." in final
    assert "w0300" not in final
