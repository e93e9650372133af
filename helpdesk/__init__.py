"""Digituki helpdesk: the core Django app (domain model, services, selectors, pages)."""
