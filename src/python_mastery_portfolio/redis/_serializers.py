"""How keys and values become Redis bytes: a canonical key encoding and value serializers.

Keys are written as canonical, compact JSON in which every value keeps its type: ``1``,
``1.0``, ``True`` and ``"1"`` are different JSON texts, a tuple is an array, and a type
(the decorators add argument types when ``typed=True``) is an object naming it. So two keys
share an encoding only if they are equal and of the same types; anything else is a
``TypeError`` that names it, never a silent collision.

Values go through a :class:`Serializer`. :class:`JSONSerializer`, the default, stores JSON
types and gives back exactly the types it was given (tuples stay tuples, dicts keep
non-string keys); it can run no code when reading, whoever wrote to the Redis server.
:class:`PickleSerializer` stores anything picklable and signs every value with HMAC-SHA256,
so a value not written with the same key is refused rather than unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
from typing import Any, Final, Protocol, runtime_checkable

__all__ = ["JSONSerializer", "PickleSerializer", "Serializer", "encode_key"]

_SCALARS: Final = (str, int, float, bool, type(None))
_JSON_PLAIN: Final = b"j"  # the payload is plain JSON
_JSON_TAGGED: Final = b"t"  # the payload holds tagged objects (tuples, dicts of other keys)
_TUPLE: Final = "\x00t"
_DICT: Final = "\x00d"
_PICKLE: Final = b"p"
_DIGEST_SIZE: Final = hashlib.sha256().digest_size


@runtime_checkable
class Serializer(Protocol):
    """Turns values into bytes for Redis and back.

    ``dumps`` raises ``TypeError`` for a value it cannot store; ``loads`` raises
    ``ValueError`` for bytes it refuses (corrupt, foreign, or badly signed), which the store
    treats as a miss.
    """

    def dumps(self, value: Any, /) -> bytes:
        """Return ``value`` as bytes."""
        ...

    def loads(self, data: bytes, /) -> Any:
        """Return the value ``data`` holds."""
        ...


def _key_tree(key: object) -> object:
    kind = type(key)
    if kind in _SCALARS:
        return key
    if kind is tuple:
        return [_key_tree(item) for item in key]  # type: ignore[attr-defined]  # a tuple
    if isinstance(key, type):
        return {"type": f"{key.__module__}.{key.__qualname__}"}
    raise TypeError(
        f"a Redis cache key must be built of str, int, float, bool, None, tuples and types, "
        f"got {kind.__qualname__}: {key!r}"
    )


def encode_key(key: object) -> str:
    """Return the canonical text of a cache key (see the module's docstring).

    Raises:
        TypeError: If the key holds anything but str, int, float, bool, None, tuples and
            types (exact types: a subclass such as an enum member is refused).

    Example:
        >>> [encode_key(key) for key in (1, "1", 1.0, True, (1,), ("a", None), int)]
        ['1', '"1"', '1.0', 'true', '[1]', '["a",null]', '{"type":"builtins.int"}']
        >>> encode_key(frozenset())
        Traceback (most recent call last):
        TypeError: a Redis cache key must be built of ... got frozenset: frozenset()
    """
    return json.dumps(_key_tree(key), ensure_ascii=False, separators=(",", ":"))


class _Encoder:
    """One value's walk: checks types, tags what plain JSON would change, notes if it did."""

    __slots__ = ("tagged",)

    def __init__(self) -> None:
        self.tagged = False

    def encode(self, value: object) -> object:
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is list:
            return [self.encode(item) for item in value]  # type: ignore[attr-defined]  # a list
        if kind is tuple:
            self.tagged = True
            return {_TUPLE: [self.encode(item) for item in value]}  # type: ignore[attr-defined]  # a tuple
        if kind is dict:
            items: dict[Any, Any] = value  # type: ignore[assignment]  # a dict
            if all(type(name) is str and not name.startswith("\x00") for name in items):
                return {name: self.encode(item) for name, item in items.items()}
            self.tagged = True
            return {_DICT: [[self.encode(name), self.encode(item)] for name, item in items.items()]}
        raise TypeError(
            f"JSONSerializer stores None, bool, int, float, str, lists, tuples and dicts of "
            f"them, got {kind.__qualname__}; convert it, or choose PickleSerializer(key=...)"
        )


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if _TUPLE in obj:
            return tuple(obj[_TUPLE])
        if _DICT in obj:
            return dict(obj[_DICT])  # keys and values decoded already, bottom-up
    return obj


class JSONSerializer:
    """Store JSON types, giving back exactly the types stored; the default serializer.

    ``None``, ``bool``, ``int``, ``float`` (NaN and infinities included), ``str``, lists,
    tuples and dicts of them (keys of any of those types) round-trip with their types; any
    other type (an enum, a dataclass, a set...) is a ``TypeError`` at ``dumps``. Reading
    cannot run code.

    Example:
        >>> serializer = JSONSerializer()
        >>> value = {"id": 7, "pair": (1, 2.5), 3: [None, True]}
        >>> serializer.loads(serializer.dumps(value)) == value
        True
        >>> type(serializer.loads(serializer.dumps((1,))))
        <class 'tuple'>
        >>> serializer.dumps({1, 2})
        Traceback (most recent call last):
        TypeError: JSONSerializer stores ... got set; convert it, or choose PickleSerializer(...)
    """

    __slots__ = ()

    def dumps(self, value: Any, /) -> bytes:
        """Return ``value`` as tagged JSON bytes (see the class docstring)."""
        encoder = _Encoder()
        tree = encoder.encode(value)
        text = json.dumps(tree, ensure_ascii=False, separators=(",", ":")).encode()
        return (_JSON_TAGGED if encoder.tagged else _JSON_PLAIN) + text

    def loads(self, data: bytes, /) -> Any:
        """Return the value ``data`` holds; ``ValueError`` if it is not this serializer's."""
        marker, text = data[:1], data[1:]
        if marker == _JSON_PLAIN:
            return json.loads(text)
        if marker == _JSON_TAGGED:
            return json.loads(text, object_hook=_untag)
        raise ValueError("not a JSONSerializer value")

    def __repr__(self) -> str:
        return "JSONSerializer()"


class PickleSerializer:
    """Store anything picklable, signed with HMAC-SHA256 so that only signed values load.

    Choose it only when values are not JSON types. Every process sharing the Redis data
    needs the same ``key``; a value not signed with it (written by anyone else, corrupted,
    or stored by :class:`JSONSerializer`) is refused with ``ValueError`` before unpickling.

    Args:
        key: The secret signing key, at least 16 bytes.

    Raises:
        TypeError: If ``key`` is not bytes.
        ValueError: If ``key`` is shorter than 16 bytes.

    Example:
        >>> serializer = PickleSerializer(key=b"0123456789abcdef")
        >>> serializer.loads(serializer.dumps({1, 2}))
        {1, 2}
        >>> other = PickleSerializer(key=b"another key, 16+")
        >>> other.loads(serializer.dumps({1, 2}))
        Traceback (most recent call last):
        ValueError: bad signature: the value was not written with this PickleSerializer's key
    """

    __slots__ = ("_key",)

    def __init__(self, *, key: bytes) -> None:
        if not isinstance(key, bytes):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"key must be bytes, got {type(key).__qualname__}")
        if len(key) < 16:
            raise ValueError(f"key must be at least 16 bytes, got {len(key)}")
        self._key = key

    def dumps(self, value: Any, /) -> bytes:
        """Return ``value`` pickled and signed."""
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return _PICKLE + hmac.digest(self._key, payload, "sha256") + payload

    def loads(self, data: bytes, /) -> Any:
        """Return the value ``data`` holds, if its signature is this key's; else ``ValueError``."""
        signature, payload = data[1 : 1 + _DIGEST_SIZE], data[1 + _DIGEST_SIZE :]
        expected = hmac.digest(self._key, payload, "sha256")
        if data[:1] != _PICKLE or not hmac.compare_digest(signature, expected):
            raise ValueError(
                "bad signature: the value was not written with this PickleSerializer's key"
            )
        return pickle.loads(payload)  # noqa: S301 - signed by a holder of the key

    def __repr__(self) -> str:
        return "PickleSerializer(key=...)"
