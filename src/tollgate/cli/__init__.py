"""The command line: serve, migrate, mock-upstream, rotate-master-key; login, logout, whoami, status,
requests, export."""
