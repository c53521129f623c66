"""Which content-safety policy a deployment is held to (`gateway/safety.py`, `policy_of`): the
center's, a deployment's rules added to it or in its place, its switches over the center's."""

from __future__ import annotations

import pytest

from aicc.config import SafetyPolicySettings, SafetySettings
from aicc.core.safety import flagged
from aicc.gateway.safety import check, policy_of, prompt_slots

CENTER = SafetySettings.model_validate(
    {"enabled": True, "rules": [{"name": "center", "words": ["forbidden"]}]}
)


def test_a_deployment_adds_rules_replaces_them_or_turns_the_check_off() -> None:
    center = policy_of(CENTER, None)
    assert center is not None and [r.name for r in center.rules] == ["center"]
    assert not center.store_text and center.prompts and center.completions

    more = SafetyPolicySettings.model_validate(
        {"rules": [{"name": "own", "patterns": [r"\bpin \d{4}\b"], "action": "mask"}],
         "store_text": True, "completions": False}
    )  # fmt: skip
    added = policy_of(CENTER, more)
    assert added is not None and [r.name for r in added.rules] == ["center", "own"]
    assert added.store_text and not added.completions

    instead = policy_of(CENTER, more.model_copy(update={"replace": True}))
    assert instead is not None and [r.name for r in instead.rules] == ["own"]
    assert policy_of(CENTER, SafetyPolicySettings(enabled=False)) is None
    assert policy_of(SafetySettings(), None) is None  # off unless the center turns it on


def test_a_prompt_is_masked_in_place_in_every_shape_a_client_sends() -> None:
    own = SafetyPolicySettings.model_validate(
        {"rules": [{"name": "pin", "patterns": [r"\bpin \d{4}\b"], "action": "mask"}]}
    )
    policy = policy_of(CENTER, own)
    assert policy is not None
    chat = {"messages": [{"role": "user", "content": [{"type": "text", "text": "my pin 1234"}]}]}
    hit, masked, _ = check(policy, prompt_slots("chat", chat))
    assert hit is None and [h.rule for h in masked] == ["pin"]
    assert chat["messages"][0]["content"][0]["text"] == "my ********"  # type: ignore[index]

    batch = {"prompt": ["fine", "this is Forbidden"]}
    hit, _, _ = check(policy, prompt_slots("completions", batch))
    assert hit is not None and hit.rule == "center"
    line = {"messages": [{"role": "user", "content": "Forbidden"}]}  # a /v1/batches line
    hit, _, _ = check(policy, prompt_slots("batch:chat", line))
    assert hit is not None and hit.rule == "center"


def test_a_pattern_that_is_no_regular_expression_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="is not a regular expression"):
        SafetySettings.model_validate({"rules": [{"name": "bad", "patterns": ["(unclosed"]}]})


def test_a_classifier_alone_makes_a_policy_and_its_scores_block_at_the_threshold() -> None:
    settings = SafetySettings.model_validate(
        {"enabled": True, "classifier": {"deployment": "dep_a", "labels": ["toxic", "hate"]}}
    )
    policy = policy_of(settings, None)
    assert policy is not None and policy.classifier is not None and not policy.rules
    own = SafetyPolicySettings.model_validate(
        {"classifier": {"deployment": "dep_b", "threshold": 0.9, "on_error": "open"}}
    )
    mine = policy_of(settings, own)  # a deployment's classifier replaces the center's
    assert mine is not None and mine.classifier is not None
    assert (mine.classifier.deployment, mine.classifier.fail_open) == ("dep_b", True)
    assert policy.classifier.deployment == "dep_a" and not policy.classifier.fail_open

    classifier = policy.classifier
    hit = flagged(classifier, {"safe": 0.9, "toxic": 0.6, "hate": 0.7}, "some text")
    assert hit is not None and (hit.rule, hit.action, hit.end) == ("classifier:hate", "block", 9)
    assert flagged(classifier, {"safe": 0.99, "toxic": 0.49}, "x") is None  # `safe` not listed
    with pytest.raises(ValueError, match="threshold"):
        SafetySettings.model_validate({"classifier": {"deployment": "d", "threshold": 2}})
