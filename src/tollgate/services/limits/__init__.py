"""Rate limits: counters that admit a call against several limits at once (``counters``), kept in
process or in Redis (``redis_counters``) so that several instances enforce one limit."""
