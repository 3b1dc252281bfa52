"""``microapi.keys``: an app's keys, checked at once, with itsdangerous loaded at first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from microapi import Api
from microapi.keys import Keys


def _modules_after(code: str) -> set[str]:
    """The modules loaded by a fresh interpreter running *code*."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_an_api_with_keys_loads_no_itsdangerous_until_it_signs() -> None:
    built = _modules_after("from microapi import Api\napi = Api(secret_key=['old', 'new'])")
    assert "itsdangerous" not in built
    assert "microapi.security" not in built
    signed = _modules_after(
        "from microapi import Api\napi = Api(secret_key='k')\napi.tokens.issue({'sub': '1'})"
    )
    assert "itsdangerous" in signed


def test_keys_are_checked_when_the_api_is_built() -> None:
    # Bad keys fail at construction, not at the first signature.
    with pytest.raises(ValueError, match="empty key"):
        Api(secret_key=["k", ""])
    with pytest.raises(ValueError, match="signing_key"):
        Api(secret_key=["a", "b"], signing_key="c")


def test_the_serializers_are_made_once_per_salt_and_sign_with_the_signing_key() -> None:
    keys = Keys(["old", "new"], signing_key="old")
    first = keys.serializer("s", "tests")
    assert keys.serializer("s", "tests") is first
    assert keys.timed_serializer("s", "tests") is keys.timed_serializer("s", "tests")
    token = first.dumps({"a": 1})
    assert Keys(["old"]).serializer("s", "tests").loads(token) == {"a": 1}


def test_tokens_are_made_at_first_use_and_kept() -> None:
    api = Api(secret_key="k")
    assert "tokens" not in vars(api)
    assert api.tokens is api.tokens
    assert api.tokens.verify(api.tokens.issue({"sub": "1"})) == {"sub": "1"}
