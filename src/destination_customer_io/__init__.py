"""Airbyte destination connector for Customer.io (Track API)."""

__version__ = "0.6.3"
