"""The sandbox's no-key simulator served as a Messages API endpoint on loopback (`make simulator`).

POST /v1/messages (JSON, or SSE when "stream" is true), POST /v1/messages/count_tokens and
GET /v1/models[/{id}]. Requests are checked by validator.validate and answered by
simulator.simulate, so the SDK or curl pointed at it (ANTHROPIC_BASE_URL=http://127.0.0.1:8790,
any key) get what the sandbox shows. tests/fake_anthropic.py adds the test-only controls.
Docs: https://platform.claude.com/docs/en/api/messages and
https://platform.claude.com/docs/en/build-with-claude/streaming
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from course.model_catalogue import ModelData, ModelInfo, parse_model_data
from course.sandbox import simulator, validator
from course.sandbox.http1 import Exchange, HttpServer, serve_until_stopped
from course.sandbox.validator import ApiError

logger = logging.getLogger(__name__)
MODELS_FILE = Path(__file__).resolve().parents[2] / "lessons" / "models.yaml"
DEFAULT_PORT = 8790
MESSAGES, COUNT_TOKENS, MODELS = "/v1/messages", "/v1/messages/count_tokens", "/v1/models"
LIFECYCLE = {"deprecated": "deprecated", "retired": "retired"}  # current and legacy: active


class Refused(Exception):
    """Answer the request with this error instead."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def model_info(model: ModelInfo) -> dict[str, Any]:
    """A lessons/models.yaml entry as the Models API's ModelInfo object."""
    retires = f"{model.retires:%Y-%m-%d}T00:00:00Z" if model.retires else None
    return {
        "type": "model",
        "id": model.id,
        "display_name": model.name,
        "created_at": "1970-01-01T00:00:00Z",  # the release date is not in the file (epoch)
        "lifecycle": LIFECYCLE.get(model.status, "active"),
        "retires_at": retires,
        "max_input_tokens": model.context_window,
        "max_tokens": model.max_output,
    }


@dataclasses.dataclass(frozen=True)
class Pace:
    """When each content_block_delta is due: `ttft` s after the request arrived, then `rate`/s."""

    ttft: float = 0.0
    rate: float = 0.0  # 0: no delay between deltas

    def due(self, received_ns: int, index: int) -> float:
        """The time.monotonic() at which delta `index` is due."""
        return received_ns / 1e9 + self.ttft + (index / self.rate if self.rate else 0.0)


class MessagesServer(HttpServer):
    """The simulator on host:port, served by an asyncio loop in a daemon thread.

    `clock` (seconds) drives the simulated prompt cache's expiry, so tests can fake time.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model_data: ModelData | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(host=host, port=port)
        self.clock = clock
        text = MODELS_FILE.read_text(encoding="utf-8")
        self.model_data = model_data or parse_model_data(text, MODELS_FILE)
        self.store = simulator.MemoryStore(clock=clock)

    def forget_cache(self) -> None:
        self.store = simulator.MemoryStore(clock=self.clock)

    # -- answering ----------------------------------------------------------------------------

    async def handle(self, ex: Exchange) -> bool:
        """Answer one request; return whether the connection may be reused."""
        try:
            if ex.method == "GET" and (ex.path == MODELS or ex.path.startswith(MODELS + "/")):
                self.check_headers(ex)
                await ex.send_json(200, self.models_response(ex.path))
                return ex.keep_alive
            if ex.method != "POST" or ex.path not in (MESSAGES, COUNT_TOKENS):
                raise Refused(ApiError(404, "not_found_error", f"Not found: {ex.method} {ex.path}"))
            body = self.check(ex)
            if ex.path == COUNT_TOKENS:
                await ex.send_json(200, {"input_tokens": self.count_tokens(body)})
                return ex.keep_alive
            return await self.answer(ex, body)
        except Refused as refused:
            await ex.send_error(refused.error)
            return ex.keep_alive
        except OSError:
            raise  # the client went away
        except Exception:
            # A request the validator let through but the simulator cannot answer: a bug here,
            # answered as the API answers its own (500 api_error), never a dropped connection.
            logger.exception("the simulator failed on %s %s", ex.method, ex.path)
            if not ex.answered:
                message = "The simulator failed on this request; its log says why."
                await ex.send_error(ApiError(500, "api_error", message))
            return False

    def check_headers(self, ex: Exchange) -> str:
        """The API version the request names, once its key and version headers are there."""
        bearer = ex.headers.get("authorization", "")
        if not ex.headers.get("x-api-key") and not (bearer[:7] == "Bearer " and bearer[7:].strip()):
            raise Refused(ApiError(401, "authentication_error", "x-api-key header is required"))
        if not (version := ex.headers.get("anthropic-version")):
            raise Refused(validator.invalid("anthropic-version: header is required"))
        return version

    def check(self, ex: Exchange) -> dict[str, Any]:
        """The request body, if the API would accept it; else Refused with the API's error."""
        version = self.check_headers(ex)
        if ex.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise Refused(validator.invalid("content-type: must be application/json"))
        body = ex.body
        if body is None:
            raise Refused(
                validator.invalid("The request body is not valid JSON, or not a JSON object")
            )
        # count_tokens takes no max_tokens; the Messages rules need one.
        checked = body if ex.path == MESSAGES else {"max_tokens": 1, **body}
        if error := validator.validate(checked, self.model_data, version):
            raise Refused(error)
        return body

    def count_tokens(self, body: dict[str, Any]) -> int:
        """Every input token, cached or not: usage with an empty cache of its own."""
        usage = simulator.usage(body, self.model_data, simulator.MemoryStore())
        return usage["input_tokens"] + usage["cache_creation_input_tokens"]

    def models_response(self, path: str) -> dict[str, Any]:
        """GET /v1/models (one page holding every model) or GET /v1/models/{id}."""
        models = self.listed_models()
        if path.rstrip("/") == MODELS:
            ids = [model["id"] for model in models]
            page = {"data": models, "has_more": False}
            return page | {"first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}
        wanted = path.removeprefix(MODELS + "/")
        found = next((model for model in models if model["id"] == wanted), None)
        if found is None:
            raise Refused(ApiError(404, "not_found_error", f"model: {wanted}"))
        return found

    def listed_models(self) -> list[dict[str, Any]]:
        return [model_info(model) for model in self.model_data.models]

    async def answer(self, ex: Exchange, body: dict[str, Any]) -> bool:
        """Answer a valid Messages request with the simulator."""
        outcome = simulator.simulate(body, self.model_data, self.store, ex.request_id)
        if outcome.status != 200 or not outcome.events:
            await ex.send_json(outcome.status, outcome.response, outcome.headers)
        else:
            await self.stream(ex, outcome.events, headers=outcome.headers)
        return ex.keep_alive

    async def stream(
        self,
        ex: Exchange,
        events: Iterable[dict[str, Any]],
        *,
        headers: dict[str, str] | None = None,
        pace: Pace = Pace(),
        times: list[int] | None = None,
        end: bool = True,
    ) -> None:
        """Write `events` as SSE, each content_block_delta when `pace` says (its write time
        appended to `times`); OSError if the client hangs up. `end=False` leaves it open."""
        await ex.start_stream(headers)
        deltas = 0
        for event in events:
            if event["event"] == "content_block_delta":
                if (delay := pace.due(ex.received_ns, deltas) - time.monotonic()) > 0:
                    # A hang-up cuts the wait for the first token short.
                    await (ex.pause(delay) if deltas == 0 else asyncio.sleep(delay))
                deltas += 1
            await ex.send_event(event)
            if times is not None and event["event"] == "content_block_delta":
                times.append(time.monotonic_ns())
        if end:
            await ex.end_stream()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    options = parser.parse_args(argv)
    serve_until_stopped(
        MessagesServer(host=options.host, port=options.port),
        "The simulated Messages API is listening on {url}\n"
        "Point the SDK or curl at it: export ANTHROPIC_BASE_URL={url} ANTHROPIC_API_KEY=any\n"
        "Replies are simulated: the shape is the API's, the words are not a model's.",
    )


if __name__ == "__main__":
    main()
