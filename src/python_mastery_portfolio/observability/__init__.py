"""Prometheus, OpenTelemetry and logging adapters for the instrumentation hook."""
