"""--topology nginx: the shipped deployment on loopback, as tests/test_deploy_topology.py runs it.

nginx with deploy/nginx/course.conf (addresses and paths swapped, Debian's worker count) over
HTTPS, in front of --processes daphne processes started with the systemd unit's flags, sharing
one PostgreSQL database (created fresh, dropped afterwards unless --keep) and one Redis database
(flushed first). Nothing is pinned: with two cores, the daphnes, nginx, the fake and the load
generator share both, so read the "other load" and "gen lag" columns before the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import ssl
from pathlib import Path

import redis

from bench import procs
from tests.nginx_process import HOST, daphne_flags, ensure_nginx, nginx
from tests.site_process import drop_postgres, fresh_postgres


def site_env(args: argparse.Namespace, env: dict[str, str]) -> dict[str, str]:
    """The production settings that differ from the single-process run: HTTPS behind nginx."""
    return env | {
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "ALLOWED_HOSTS": HOST,
        "CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
        "SECURE_COOKIES": "true",
        "BEHIND_HTTPS_PROXY": "true",
    }


def prepare_stores(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    fresh_postgres(args.database_url)
    if not args.keep:
        stack.callback(drop_postgres, args.database_url)
    redis.Redis.from_url(args.redis_url).flushdb()


def start(
    args: argparse.Namespace, env: dict[str, str], tmp: Path, stack: contextlib.ExitStack
) -> dict:
    """Start the daphnes and nginx (stopped by `stack`); the learners' connection details."""
    binary = ensure_nginx()
    if binary is None:
        raise RuntimeError("--topology nginx needs Debian's nginx package (apt install nginx)")
    daphnes, ports = [], []
    for i in range(args.processes):
        port = procs.free_port()
        process = procs.start_daphne(env, port, None, tmp / f"daphne{i}.log", flags=daphne_flags())
        stack.callback(procs.stop, process)
        daphnes.append(process)
        ports.append(port)
    proxy = stack.enter_context(nginx(binary, tmp / "nginx", ports, tmp / "static", "auto"))
    tls = ssl.create_default_context(cafile=tmp / "nginx" / "cert.pem")
    return {
        "daphnes": daphnes,
        "nginx": proxy,
        # The public address in the URI; the TCP connection goes to nginx on loopback.
        "url": f"wss://{HOST}/ws/tutor/{args.lesson}/",
        "origin": f"https://{HOST}",
        "options": {"host": "127.0.0.1", "port": proxy.https, "ssl": tls},
    }
