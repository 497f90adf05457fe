"""Runtime type validation of function arguments: :func:`validate_types`.

Each annotation is compiled once, at the first call, into a checker: a plain class becomes an
``isinstance`` test written straight into a generated wrapper, a container becomes a loop that
runs in C on the fast path and only walks the data again, to name the failing path, when a
check fails. The wrapper has the function's own signature, so Python binds the arguments and
a call costs one extra frame and the checks, nothing more. Until that first call the wrapper
keeps the namespaces of the class bodies and the frames of the functions enclosing the
function, so that annotations naming local classes, even ones defined after it, resolve.

What a hint means at run time:

* Classes (``isinstance``, so ``bool`` passes for ``int``, and, following PEP 484's numeric
  tower, ``int`` for ``float`` and ``int``/``float`` for ``complex``); runtime-checkable
  protocols; ``Any``/``object`` (never checked); ``None``.
* Protocols that are not runtime-checkable, structurally, as typeguard does: every member
  the protocol declares (its bases' too) must be present, and its methods callable;
  signatures and the types of data members are not compared.
* ``X | Y``, ``Optional``, ``Union``, ``Literal`` (value *and* exact type: ``True`` is not
  ``Literal[1]``), ``Annotated`` (metadata ignored), ``NewType`` (its supertype), ``TypeVar``
  (its bound or constraints; a bare one is ``Any``), ``LiteralString`` (``str``), ``Never``.
* Containers, checked in full, every element, in iteration order: ``list``, ``set``,
  ``frozenset``, ``deque``, ``dict`` and its relatives, ``tuple[T, ...]``, ``tuple[A, B]``,
  ``TypedDict`` classes, ``NamedTuple`` classes (the class, then each annotated field:
  ``point.x`` in the path), and the ``collections.abc`` ones that can be iterated again
  (``Sequence``, ``MutableSequence``, ``Set``, ``Collection``, ``Mapping``, views...).
* Files: ``TextIO`` and ``IO[str]`` take any ``io.TextIOBase`` (``open(p)``, ``sys.stdout``,
  ``io.StringIO()``), ``BinaryIO`` and ``IO[bytes]`` any ``io.RawIOBase`` or
  ``io.BufferedIOBase`` (``open(p, "rb")``, ``sys.stdout.buffer``, ``io.BytesIO()``), ``IO``
  and ``IO[Any]`` any ``io.IOBase``, as typeguard decides; the message says when a text file
  came where a binary one was expected, or the reverse.
* ``Iterable``, ``Iterator``, ``Generator``, ``Awaitable`` and user generics are checked as a
  class only (never consumed); ``Callable[...]`` as ``callable()``; ``type[T]`` as a subclass.
* ``typing.Self`` and ``ParamSpec`` components are not checked. Recursive aliases (a string
  forward reference to themselves) and cyclic data work.

Anything else is a ``TypeError`` naming the annotation.

:func:`check_type` checks one value against one hint with the same checkers and messages;
``@validate_types(check_return=True)`` also checks the return value. A name that the
function's module binds only under ``if TYPE_CHECKING:`` cannot be resolved at run time:
the parameter whose annotation needs it is not checked and one ``WARNING`` is logged on the
``python_mastery_portfolio.validation`` logger (a log record, so that suites turning
warnings into errors keep working); any other unresolvable name is a ``NameError``.
"""

from __future__ import annotations

from python_mastery_portfolio.validation._check_type import check_type
from python_mastery_portfolio.validation._decorator import (
    validate_types,
)

__all__ = [
    "check_type",
    "validate_types",
]
