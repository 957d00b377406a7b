"""The management API: JSON, camelCase, documented at ``/openapi.json``."""
