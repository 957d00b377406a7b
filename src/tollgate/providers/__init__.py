"""Pure translation per provider: build upstream requests, parse responses, accumulate
usage from streams, map errors. Never imports storage or ASGI code."""
