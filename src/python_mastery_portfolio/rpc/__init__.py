"""JSON-RPC 2.0: a transport-free dispatcher, Unix-socket and TCP transports, a client."""

from __future__ import annotations

__all__: list[str] = []
