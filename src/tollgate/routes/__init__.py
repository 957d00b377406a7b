"""HTTP adapters: one module per route family. Parsing and formatting only, no policy."""
