"""What stands between a request whose replica is known and the replica, beside the key's
limits (`forward.py`): the hold through a cold start that timed out, the service tier's
admission (`tiers.py`), and content safety on the prompt and on the answer (`safety.py`). Kept
apart from `forward.py`'s routing so each reads alone."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

from aicc.core.safety import Policy
from aicc.gateway import classify, safety
from aicc.gateway.call import Call
from aicc.gateway.errors import error


def cold_start_timeout(name: str, waited_s: float, request_id: str) -> JSONResponse:
    """The request was held while deployment `name` started a replica, and none was ready
    within `deployments.cold_start_timeout_s`."""
    return error(
        503,
        f"deployment `{name}` was starting a replica and none was ready within {waited_s:g} s; "
        "retry shortly",
        "server_error",
        "cold_start_timeout",
        headers={"Retry-After": "5", "x-request-id": request_id},
    )


async def admit(call: Call) -> JSONResponse | None:
    """A slot of the deployment's capacity for the call's tier (None: go on, the call holds
    it until it ends), or the 429 it got. Admission off (`gateway.tiers.per_replica` unset):
    always None."""
    admission = call.gateway.admission
    if not admission.enabled:
        return None
    capacity = admission.capacity(len(call.target.urls))
    try:
        refused = await admission.enter(call.target.deployment_id, call.grant.tier, capacity)
    except BaseException:  # the client left while it waited
        call.abandon()
        raise
    if refused is None:
        call.admitted = True
        return None
    await call.finish(429, billable=False)
    why = "too many requests wait" if refused.full else "no replica was free in time"
    return error(
        429,
        f"deployment `{call.target.name}` is busy: {why} at service tier {refused.tier}; "
        f"retry after {refused.seconds} s",
        "requests",
        "tier_saturated",
        headers={"Retry-After": str(refused.seconds), "x-request-id": call.id},
    )


async def check_prompt(
    call: Call, policy: Policy, payload: Any
) -> tuple[JSONResponse | None, bool]:
    """The request's texts against the policy: a 400 if blocked (the call finished), else
    whether a text was masked in `payload` (the body must be written again)."""
    if not policy.prompts:
        return None, False
    hit, masked, text = safety.check(policy, safety.prompt_slots(call.route, payload))
    found = [hit] if hit is not None else masked
    if found:
        await call.gateway.safety.note(
            policy, call.grant, call.target, call.id, "prompt", found, text
        )
    if hit is None and policy.classifier is not None and call.route != "moderations":
        texts = [text for text, _ in safety.prompt_slots(call.route, payload)]
        try:
            hit = await classify.verdict(call.gateway, policy.classifier, texts)
        except classify.Unavailable:
            await call.finish(503, billable=False)
            return classify.unavailable(call.id), False
        if hit is not None:
            stored = "\n".join(texts)
            await call.gateway.safety.note(
                policy, call.grant, call.target, call.id, "prompt", [hit], stored
            )
    if hit is not None:
        await call.finish(400, billable=False)
        return safety.refusal("prompt", hit, call.id), False
    return None, bool(masked)


async def check_answer(call: Call, content: bytes) -> bytes | JSONResponse:
    """A whole answer against the deployment's policy: as it was, masked, or a 400 (the
    caller finishes the call: the replica worked for it)."""
    policy = call.gateway.safety.policy(call.target.deployment_id)
    textless = call.route.endswith(("embeddings", "moderations"))  # no answer text
    if policy is None or not policy.completions or textless:
        return content
    try:
        answer = json.loads(content)
    except (ValueError, RecursionError):
        return content
    hit, masked, text = safety.check(policy, safety.answer_slots(answer))
    found = [hit] if hit is not None else masked
    if found:
        await call.gateway.safety.note(
            policy, call.grant, call.target, call.id, "completion", found, text
        )
    if hit is None and policy.classifier is not None:
        texts = [text for text, _ in safety.answer_slots(answer)]
        try:
            hit = await classify.verdict(call.gateway, policy.classifier, texts)
        except classify.Unavailable:
            return classify.unavailable(call.id)
        if hit is not None:
            stored = "\n".join(texts)
            await call.gateway.safety.note(
                policy, call.grant, call.target, call.id, "completion", [hit], stored
            )
    if hit is not None:
        return safety.refusal("completion", hit, call.id)
    return json.dumps(answer).encode() if masked else content


def guard(call: Call) -> safety.StreamGuard | None:
    """The check a stream's events go through, if its deployment's policy reads answers."""
    policy = call.gateway.safety.policy(call.target.deployment_id)
    if policy is None or not policy.completions:
        return None
    return safety.StreamGuard(
        call.gateway.safety, policy, call.grant, call.target, call.id, call.gateway
    )
