"""Errors: the taxonomy that names what went wrong, and the signature that groups alike failures.

``categories`` sorts an exception into an ``error_category`` and gives the error fields of a log
event; ``signature`` hashes a message into a stable ``error_signature``. The rules behind the
categories live in ``_rules``. This package re-exports the public names of both.
"""

from __future__ import annotations

from moose_trace.errors.categories import (
    AUTHENTICATION_ERROR,
    AUTHORIZATION_ERROR,
    CANCELLED_ERROR,
    CODE_ERROR,
    CONNECTION_ERROR,
    ERROR_CATEGORIES,
    NOT_FOUND_ERROR,
    RATE_LIMIT_ERROR,
    RESOURCE_ERROR,
    TIMEOUT_ERROR,
    TYPE_CONVERSION_ERROR,
    UNKNOWN_ERROR,
    VALIDATION_ERROR,
    categorize_error,
    error_fields,
    error_message,
    error_type_name,
    register_error_category,
    unregister_error_category,
)
from moose_trace.errors.signature import SIGNATURE_VERSION, error_signature, normalize_message

__all__ = [
    "AUTHENTICATION_ERROR",
    "AUTHORIZATION_ERROR",
    "CANCELLED_ERROR",
    "CODE_ERROR",
    "CONNECTION_ERROR",
    "ERROR_CATEGORIES",
    "NOT_FOUND_ERROR",
    "RATE_LIMIT_ERROR",
    "RESOURCE_ERROR",
    "SIGNATURE_VERSION",
    "TIMEOUT_ERROR",
    "TYPE_CONVERSION_ERROR",
    "UNKNOWN_ERROR",
    "VALIDATION_ERROR",
    "categorize_error",
    "error_fields",
    "error_message",
    "error_signature",
    "error_type_name",
    "normalize_message",
    "register_error_category",
    "unregister_error_category",
]
