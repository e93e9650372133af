"""Routing: where each waiting contact goes, and when."""
