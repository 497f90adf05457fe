"""The instrumentation hook every part reports to (standard library only)."""
