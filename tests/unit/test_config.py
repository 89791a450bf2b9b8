from __future__ import annotations

import pytest

from interlock.config import ConfigError, Settings


def test_defaults_are_valid() -> None:
    settings = Settings.load()
    assert settings.port == 8000
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_url_lists_parse_from_comma_separated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_LARGE_MODEL_URLS", "http://a:8000/v1, http://b:8000/v1/")
    settings = Settings.load()
    assert settings.large_model_urls == ["http://a:8000/v1", "http://b:8000/v1"]
    assert settings.embedded_models  # the small tier is still unset


def test_bad_url_is_refused_with_the_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_SMALL_MODEL_URLS", "not a url")
    with pytest.raises(ConfigError) as info:
        Settings.load()
    assert "INTERLOCK_SMALL_MODEL_URLS" in str(info.value)
    assert "not an http(s) URL" in str(info.value)


def test_negative_timeout_is_refused_with_the_variable_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTERLOCK_MODEL_TIMEOUT_S", "-1")
    with pytest.raises(ConfigError, match="INTERLOCK_MODEL_TIMEOUT_S"):
        Settings.load()


def test_bad_redis_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_REDIS_URL", "http://127.0.0.1:6379")
    with pytest.raises(ConfigError, match="INTERLOCK_REDIS_URL"):
        Settings.load()


def test_guard_actions_and_topics_come_from_json_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_GUARD_ACTIONS", '{"pii": "warn"}')
    monkeypatch.setenv("INTERLOCK_BANNED_TOPICS", '{"legal advice": ["lawsuit", "sue"]}')
    settings = Settings.load()
    assert settings.guard_actions == {"pii": "warn"}
    assert settings.banned_topics == {"legal advice": ["lawsuit", "sue"]}
    monkeypatch.setenv("INTERLOCK_GUARD_ACTIONS", '{"toxicity": "redact"}')
    with pytest.raises(ConfigError, match=r"INTERLOCK_GUARD_ACTIONS: .*cannot 'redact'"):
        Settings.load()
