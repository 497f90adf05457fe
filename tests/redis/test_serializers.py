"""Tests of the value serializers on their own and as a RedisCache reads foreign values."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from python_mastery_portfolio.redis import JSONSerializer, PickleSerializer, RedisCache

KEY = b"0123456789abcdef"


class TestJSONSerializer:
    def test_refuses_another_serializers_bytes(self) -> None:
        """Bytes that are not JSONSerializer's (a pickle, a bare JSON text) are a ValueError."""
        serializer = JSONSerializer()
        for data in (PickleSerializer(key=KEY).dumps(1), b'{"a": 1}', b""):
            with pytest.raises(ValueError, match="not a JSONSerializer value"):
                serializer.loads(data)

    @pytest.mark.parametrize(
        "value",
        [
            ((1,), {}),
            ((1,), {"a": 1}),
            ((1,), {"a": 1, "b": (2,)}),
            [{"\x00t": 1, "x": ()}],
            {"plain": [1, {"a": None}]},
        ],
        ids=["empty-dict", "one-key", "two-keys", "reserved-name-among-others", "untagged"],
    )
    def test_plain_dicts_beside_tagged_values(self, value: object) -> None:
        """Dicts of any size read back as dicts, beside tuples (tagged) or without them."""
        serializer = JSONSerializer()
        found = serializer.loads(serializer.dumps(value))
        assert found == value
        assert repr(found) == repr(value)

    def test_repr(self) -> None:
        """The repr is the constructor call."""
        assert repr(JSONSerializer()) == "JSONSerializer()"


class TestPickleSerializer:
    def test_key_must_be_bytes(self) -> None:
        """A str key is a TypeError naming the parameter."""
        with pytest.raises(TypeError, match="key must be bytes, got str"):
            PickleSerializer(key="0123456789abcdef")  # type: ignore[arg-type]  # the wrong type

    @pytest.mark.parametrize("length", [0, 15])
    def test_key_must_be_long_enough(self, length: int) -> None:
        """A key under 16 bytes is a ValueError; 16 bytes are accepted."""
        with pytest.raises(ValueError, match=f"at least 16 bytes, got {length}"):
            PickleSerializer(key=b"k" * length)
        assert PickleSerializer(key=b"k" * 16).loads(PickleSerializer(key=b"k" * 16).dumps(1)) == 1

    def test_repr_hides_the_key(self) -> None:
        """The repr never shows the secret key."""
        text = repr(PickleSerializer(key=KEY))
        assert text == "PickleSerializer(key=...)"
        assert KEY.decode() not in text

    def test_refuses_a_json_value(self) -> None:
        """A JSONSerializer value has no signature: refused before unpickling."""
        with pytest.raises(ValueError, match="bad signature"):
            PickleSerializer(key=KEY).loads(JSONSerializer().dumps([1]))


class TestForeignValuesInRedis:
    def test_a_json_cache_refuses_a_pickled_value(
        self, redis_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A signed pickle in a JSON cache's namespace is a counted miss, never unpickled."""
        writer: RedisCache[Any, Any] = RedisCache(
            redis_url, namespace="mixed", serializer=PickleSerializer(key=KEY)
        )
        reader: RedisCache[Any, Any] = RedisCache(redis_url, namespace="mixed")
        writer.set("key", {1, 2})
        with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
            assert reader.lookup("key", "miss") == "miss"
        assert "not a JSONSerializer value" in caplog.text
        assert reader.stats()["rejected"] == 1
        writer.close()
        reader.close()
