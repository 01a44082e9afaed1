"""The conformance table over HTTP: the official SDK against the served simulator (make simulator).

Every valid row comes back as the same message through `messages.create` and through
`messages.stream(...).get_final_message()`, each parsed by the SDK; every invalid row raises the
SDK's error class for the row's status, with the row's error type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from course.sandbox import codegen
from course.sandbox.server import MessagesServer

table = pytest.importorskip(
    "tests.conformance.table", reason="the conformance table comes with branch validator"
)
# The SDK's own advice about a model (deprecated, or thinking.type enabled) is not under test.
pytestmark = [
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Using Claude with .* thinking.type=enabled:UserWarning"),
]
ROWS = table.rows()
VALID = [row for row in ROWS if row.api.status == 200]
INVALID = [row for row in ROWS if row.api.status != 200]
REQUIRED = ("model", "max_tokens", "messages")
SDK_ERRORS = {
    400: anthropic.BadRequestError,
    401: anthropic.AuthenticationError,
    403: anthropic.PermissionDeniedError,
    404: anthropic.NotFoundError,
    413: anthropic.ContentTooLargeError,
    429: anthropic.RateLimitError,
    529: anthropic.OverloadedError,
}


@pytest.fixture(scope="module")
def server() -> Iterator[MessagesServer]:
    with MessagesServer() as served:
        yield served


@pytest.fixture(scope="module")
def client(server: MessagesServer) -> Iterator[anthropic.Anthropic]:
    # A timeout of its own: the SDK refuses a non-streamed call with a large max_tokens under its
    # default one, before anything is sent, and this test is about what the server answers.
    with anthropic.Anthropic(api_key="any", base_url=server.url, max_retries=0, timeout=60) as api:
        yield api


def arguments(row: Any, body: dict[str, Any]) -> dict[str, Any]:
    """`body` as the Python "Get code" snippet passes it, with the row's API version."""
    known, extra = codegen.sdk_arguments(body)
    headers = {"anthropic-version": row.version}
    return known | {"extra_body": extra or None, "extra_headers": headers}


def same_parts(message: anthropic.types.Message) -> dict[str, Any]:
    """All of a message but the ids that are new on every response (its own, its tool calls')."""
    parts = message.model_dump(mode="json", exclude={"id"})
    parts["content"] = [{k: v for k, v in block.items() if k != "id"} for block in parts["content"]]
    return parts


def test_the_table_has_valid_and_invalid_rows_to_send() -> None:
    assert len(VALID) >= 40 and len(INVALID) >= 80


@pytest.mark.parametrize("row", VALID, ids=[row.test_id for row in VALID])
def test_create_and_stream_give_the_same_message(
    server: MessagesServer, client: anthropic.Anthropic, row: Any
) -> None:
    body = {key: value for key, value in row.body.items() if key != "stream"}
    server.forget_cache()  # both calls start from the same (empty) prompt cache
    created = client.messages.create(**arguments(row, body))
    server.forget_cache()
    with client.messages.stream(**arguments(row, body)) as stream:
        streamed = stream.get_final_message()
    assert isinstance(created, anthropic.types.Message)
    assert created.id.startswith("msg_") and streamed.id.startswith("msg_")
    assert same_parts(streamed) == same_parts(created)


@pytest.mark.parametrize("row", INVALID, ids=[row.test_id for row in INVALID])
def test_an_invalid_request_raises_the_sdks_error_for_its_status(
    client: anthropic.Anthropic, row: Any
) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        body = row.body if isinstance(row.body, dict) else {}
        if all(key in body for key in REQUIRED) and isinstance(body["model"], str):
            client.messages.create(**arguments(row, row.body))
        else:  # create() needs these (and a string model), so send the body as it is
            headers = {"anthropic-version": row.version}
            client.post(
                "/v1/messages",
                body=row.body,
                cast_to=anthropic.types.Message,
                options={"headers": headers},
            )
    error = caught.value
    assert error.status_code == row.api.status, error.message
    assert isinstance(error, SDK_ERRORS.get(row.api.status, anthropic.APIStatusError))
    assert error.type == row.api.error_type
    assert error.request_id == error.body["request_id"]
    if row.api.path:
        assert error.api_message.startswith(f"{row.api.path}: "), error.api_message
    assert row.api.message in error.api_message
