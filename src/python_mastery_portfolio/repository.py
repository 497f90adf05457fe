"""Storage protocols (:class:`Serializable`, :class:`Repository`) and :class:`InMemoryRepository`.

Private: :mod:`python_mastery_portfolio.typing_utils` re-exports all three.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from python_mastery_portfolio._internal.sentinels import MISSING

__all__ = ["InMemoryRepository", "Repository", "Serializable"]

T = TypeVar("T")


@runtime_checkable
class Serializable(Protocol):
    """Anything with ``to_dict()``; every :class:`PortfolioError` is one.

    Example:
        >>> from python_mastery_portfolio.exceptions import ValidationError
        >>> isinstance(ValidationError("bad"), Serializable)
        True
    """

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict describing the object."""
        ...


@runtime_checkable
class Repository(Protocol[T]):
    """Storage of entities of type ``T`` by string id (structural: no inheritance needed).

    Example:
        >>> repo: Repository[str] = InMemoryRepository(id_of=str.lower)
        >>> repo.save("Ada"), repo.get("ada"), isinstance(repo, Repository)
        ('ada', 'Ada', True)
    """

    def get(self, entity_id: str, /) -> T | None:
        """Return the entity stored under ``entity_id``, or ``None``."""
        ...

    def save(self, entity: T, /) -> str:
        """Store ``entity`` and return its id."""
        ...

    def delete(self, entity_id: str, /) -> bool:
        """Remove the entity stored under ``entity_id``; return whether there was one."""
        ...


class InMemoryRepository(Generic[T]):
    """A thread-safe :class:`Repository` backed by a dict, for tests and prototypes.

    The id of a saved entity is, in order of preference: ``id_of(entity)`` when ``id_of`` is
    given; ``str(entity.id)`` when the entity has an ``id`` attribute that is not ``None``;
    otherwise a fresh ``uuid4().hex``. Saving under an existing id replaces the entity; an
    entity without an id gets a new record each time it is saved.

    Args:
        id_of: Returns the id (a ``str``) of an entity.

    Raises:
        TypeError: If ``id_of`` is not callable.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class User:
        ...     id: int
        ...     name: str
        >>> repo: InMemoryRepository[User] = InMemoryRepository()
        >>> repo.save(User(1, "ada"))
        '1'
        >>> repo.get("1")
        User(id=1, name='ada')
        >>> repo.delete("1"), repo.delete("1"), len(repo)
        (True, False, 0)
    """

    __slots__ = ("_id_of", "_items", "_lock")

    def __init__(self, *, id_of: Callable[[T], str] | None = None) -> None:
        raw: object = id_of  # checked at run time: callers may pass anything
        if raw is not None and not callable(raw):
            raise TypeError(f"id_of must be callable, got {id_of!r}")
        self._id_of = id_of
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InMemoryRepository({len(self)} entities)"

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, entity_id: object) -> bool:
        with self._lock:
            return entity_id in self._items

    def _id_for(self, entity: T) -> str:
        if self._id_of is not None:
            entity_id = self._id_of(entity)
            if not isinstance(entity_id, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # id_of is user code
                raise TypeError(f"id_of must return a str, got {entity_id!r}")
            return entity_id
        attribute = getattr(entity, "id", None)
        return uuid.uuid4().hex if attribute is None else str(attribute)

    def get(self, entity_id: str, /) -> T | None:
        """Return the entity stored under ``entity_id``, or ``None``."""
        with self._lock:
            return self._items.get(entity_id)

    def save(self, entity: T, /) -> str:
        """Store ``entity`` (replacing any entity with the same id) and return its id.

        Raises:
            TypeError: If ``id_of`` returns something other than a ``str``.
        """
        entity_id = self._id_for(entity)
        with self._lock:
            self._items[entity_id] = entity
        return entity_id

    def delete(self, entity_id: str, /) -> bool:
        """Remove the entity stored under ``entity_id``; return whether there was one."""
        with self._lock:
            return self._items.pop(entity_id, MISSING) is not MISSING

    def list(self) -> list[T]:
        """Return a snapshot of the stored entities, in insertion order."""
        with self._lock:
            return [*self._items.values()]
