"""tollgate: a self-hosted LLM gateway with exact cost, budgets, caching and routing."""

__version__ = "0.1.0"
