"""Where a log line comes from: the process's OpenTelemetry resource attributes as log fields.

OpenTelemetry describes a process by resource attributes, set by ``OTEL_RESOURCE_ATTRIBUTES``
(``service.version=1.4.2,deployment.environment=prod,cloud.region=eu-west-1``) and
``OTEL_SERVICE_NAME``. ``configure_logging`` puts the well-known ones on every line, under
snake_case names the query language filters and groups by (``--where
deployment_environment=prod``, ``--group-by cloud_region``):

================================  ==========================
resource attribute                log field
================================  ==========================
``service.version``               ``service_version``
``service.namespace``             ``service_namespace``
``service.instance.id``           ``service_instance_id``
``deployment.environment.name``   ``deployment_environment``
``deployment.environment``        ``deployment_environment``
``cloud.region``                  ``cloud_region``
``cloud.availability_zone``       ``cloud_availability_zone``
``host.name``                     ``host_name``
``k8s.namespace.name``            ``k8s_namespace``
``k8s.pod.name``                  ``k8s_pod``
================================  ==========================

``service.name`` is the ``service`` field (``OTEL_SERVICE_NAME`` wins over it, as in
OpenTelemetry). The fields are read once, at ``configure_logging``: they cost each line a few
dictionary writes, and nothing when none is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import unquote

__all__ = [
    "RESOURCE_ATTRIBUTES_ENV",
    "RESOURCE_FIELDS",
    "parse_resource_attributes",
    "resource_fields",
    "resource_service_name",
]

RESOURCE_ATTRIBUTES_ENV = "OTEL_RESOURCE_ATTRIBUTES"
"""OpenTelemetry's variable: comma-separated ``key=value`` resource attributes."""
RESOURCE_FIELDS: Mapping[str, str] = {
    "service.version": "service_version",
    "service.namespace": "service_namespace",
    "service.instance.id": "service_instance_id",
    "deployment.environment": "deployment_environment",
    "deployment.environment.name": "deployment_environment",
    "cloud.region": "cloud_region",
    "cloud.availability_zone": "cloud_availability_zone",
    "host.name": "host_name",
    "k8s.namespace.name": "k8s_namespace",
    "k8s.pod.name": "k8s_pod",
}
"""The resource attributes logged on every line, and their log field names."""

_MAX_VALUE = 256


def parse_resource_attributes(text: str | None) -> dict[str, str]:
    """Parse ``OTEL_RESOURCE_ATTRIBUTES``: ``key=value`` pairs, values percent-decoded.

    Pairs without ``=`` or with an empty key are skipped (OpenTelemetry's SDK does the same);
    values are cut to 256 characters. Never raises.
    """
    attributes: dict[str, str] = {}
    for pair in (text or "").split(","):
        key, equals, value = pair.partition("=")
        key = key.strip()
        if equals and key:
            attributes[key] = unquote(value.strip())[:_MAX_VALUE]
    return attributes


def resource_fields(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the log fields of this process's resource attributes (see the module table).

    ``deployment.environment.name`` (the current convention) wins over the older
    ``deployment.environment``.
    """
    env = os.environ if environ is None else environ
    attributes = parse_resource_attributes(env.get(RESOURCE_ATTRIBUTES_ENV))
    fields: dict[str, str] = {}
    for attribute, field in RESOURCE_FIELDS.items():
        value = attributes.get(attribute)
        if value:
            fields[field] = value
    newer = attributes.get("deployment.environment.name")
    if newer:
        fields["deployment_environment"] = newer
    return fields


def resource_service_name(environ: Mapping[str, str] | None = None) -> str | None:
    """Return ``service.name`` from ``OTEL_RESOURCE_ATTRIBUTES``, or ``None``."""
    env = os.environ if environ is None else environ
    return parse_resource_attributes(env.get(RESOURCE_ATTRIBUTES_ENV)).get("service.name") or None
