"""Run tests.fake_anthropic in its own process and serve its per-delta timestamps over HTTP.

`python -m tests.fake_anthropic` keeps its timings inside its own process, and the benchmark may
not change that module, so this wrapper imports FakeAnthropic and adds a tiny control endpoint
on a second loopback port:

    GET  /timings  {"timings": {id: [ns, ...]}, "arrivals": {id: ns}, "requests": n, "aborted": n}
    POST /reset    forget everything recorded so far (keeps the memory of a long run flat)

On start it prints one JSON line, {"api": "http://127.0.0.1:P", "control": "http://127.0.0.1:Q"},
so the parent learns both free ports without racing for them. SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fake_anthropic import FakeAnthropic


def _handler(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Control(BaseHTTPRequestHandler):
        def _reply(self, body: dict) -> None:
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path != "/timings":
                self.send_error(404)
                return
            # Copies taken under the fake's own lock (its properties do that).
            self._reply(
                {
                    "timings": fake.stream_timings,
                    "arrivals": fake.stream_arrivals,
                    "requests": len(fake.requests),
                    "aborted": fake.aborted_streams,
                }
            )

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/reset":
                self.send_error(404)
                return
            fake.reset()
            self._reply({"ok": True})

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # the control channel is not what is being measured; keep stderr quiet

    return Control


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=20, help="deltas when no marker says")
    options = parser.parse_args(argv)
    fake = FakeAnthropic(port=0, tokens=options.tokens)
    control = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    control.daemon_threads = True
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with fake:
        thread = threading.Thread(target=control.serve_forever, name="control", daemon=True)
        thread.start()
        host, port = control.server_address[:2]
        print(json.dumps({"api": fake.url, "control": f"http://{host}:{port}"}), flush=True)
        stopped.wait()
        control.shutdown()


if __name__ == "__main__":
    main()
