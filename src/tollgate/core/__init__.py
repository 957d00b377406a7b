"""Foundations every layer may import: settings, clock, ids, errors, money, json."""
