"""Integrations with optional packages; each module here is the only one importing its package."""
