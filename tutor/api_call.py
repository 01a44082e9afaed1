"""The "API call" panel under a reply: the request as sent, its usage, cache verdict and cost."""

from __future__ import annotations

import json
from decimal import Decimal

from course import claude
from course.model_catalogue import estimate_tokens, model_data
from tutor.models import Message
from tutor.prompts import cache_verdict
from tutor.trimming import build_messages

SHOWN_CHARS = 160


def request_body(reply: Message) -> dict:
    """Rebuild the request body exactly as it was sent (system from the stored prompt version)."""
    system = json.loads(reply.prompt.text) if reply.prompt else []
    history = [
        m for m in reply.conversation.history_before(reply) if m.pk >= (reply.first_context_id or 0)
    ]
    messages, _ = build_messages(history, budget=10**9)
    body = {
        "model": reply.model,
        "max_tokens": reply.max_tokens,
        "system": system,
        "messages": messages,
    }
    if not reply.is_offline:  # every online turn asks the API to explain a cache miss
        previous = next((m.api_message_id for m in reversed(history) if m.api_message_id), None)
        body["diagnostics"] = {"previous_message_id": previous}
    return body


def shortened(body: dict) -> dict:
    """The body with the long system text cut, each block saying how long it really is."""
    system = [
        {
            **block,
            "text": block["text"][:SHOWN_CHARS].rstrip()
            + f"… [{len(block['text']):,} characters, ≈{estimate_tokens(block['text']):,} tokens]",
        }
        for block in body["system"]
    ]
    return {**body, "system": system}


def verdict(reply: Message, system_tokens: int) -> str:
    read, written = reply.cache_read_input_tokens, reply.cache_creation_input_tokens
    if reply.is_offline:
        return "No API call: the offline tutor answered from the lesson text."
    if read and written:
        return (
            f"Cache hit for {read:,} tokens, and {written:,} new tokens written for the next turn."
        )
    if read:
        return f"Cache hit: {read:,} input tokens were read from the cache at the cache-read price."
    if written:
        return (
            f"Cache write: {written:,} tokens were cached. The next question about this lesson, "
            "from any learner within 5 minutes, reads them at a fraction of the price."
        )
    cacheable, why = cache_verdict(system_tokens, model_data().get(reply.model))
    if cacheable is False:
        return f"No caching: the prompt is {why}."
    if reply.status == Message.Status.FAILED and not reply.input_tokens:
        return "No usage was reported: the request failed before a reply started."
    return "No caching reported: the cache entry may have expired, or the prompt changed."


def python_snippet(body: dict) -> str:
    def literal(value) -> str:
        return json.dumps(value, indent=4, ensure_ascii=False)

    return (
        "import anthropic\n\n"
        "client = anthropic.Anthropic()  # reads ANTHROPIC_API_KEY from the environment\n\n"
        f"system = {literal(body['system'])}\n\n"
        f"messages = {literal(body['messages'])}\n\n"
        "with client.messages.stream(\n"
        f"    model={body['model']!r},\n"
        f"    max_tokens={body['max_tokens']},\n"
        "    system=system,\n"
        "    messages=messages,\n"
        + (f"    diagnostics={body['diagnostics']!r},\n" if "diagnostics" in body else "")
        + ") as stream:\n"
        "    for text in stream.text_stream:\n"
        '        print(text, end="", flush=True)\n'
        "    print()\n"
        "    print(stream.get_final_message().usage)\n"
    )


def describe(reply: Message) -> dict:
    body = request_body(reply)
    system_tokens = sum(estimate_tokens(block["text"]) for block in body["system"])
    model = model_data().get(reply.model)
    cost = None if reply.is_offline else reply.cost(model)
    return {
        "reply": reply,
        "body_json": json.dumps(shortened(body), indent=2, ensure_ascii=False),
        "snippet": python_snippet(body),
        "verdict": verdict(reply, system_tokens),
        "diagnosis": claude.diagnosis(reply.diagnostics),
        "cost": cost.quantize(Decimal("0.000001")) if cost is not None else None,
        "model_known": model is not None,
        "total_input": reply.input_tokens
        + reply.cache_creation_input_tokens
        + reply.cache_read_input_tokens,
    }
