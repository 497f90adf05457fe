"""Failed resolutions reported to the instrumentation hook, from containers and scopes alike."""

from __future__ import annotations

from python_mastery_portfolio._internal.callables import qualified_name
from python_mastery_portfolio.instrumentation import HOOKS, error_type


def report_failure(service_type: object, error: BaseException) -> None:
    """Report a failed resolution of ``service_type`` to the instrumentation hook.

    Example:
        >>> from python_mastery_portfolio.instrumentation import RecordingInstrument, install
        >>> recorder = RecordingInstrument()
        >>> with install(recorder):
        ...     report_failure(int, LookupError("gone"))
        >>> recorder.total("di.resolve_failures", service="builtins.int", error="LookupError")
        1.0
    """
    service = qualified_name(service_type)
    kind = error_type(error)
    HOOKS.event("di.resolve_failed", {"service": service, "error.type": kind})
    HOOKS.count("di.resolve_failures", 1, {"service": service, "error": kind})
