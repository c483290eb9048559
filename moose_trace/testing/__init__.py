"""Tools for tests and demos, not for production code: an embedded Kafka broker (``broker``)."""
