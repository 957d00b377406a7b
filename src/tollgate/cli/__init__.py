"""The command line: serve, migrate, mock-upstream, rotate-master-key."""
