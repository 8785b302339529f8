"""Fetching over HTTP, politely and safely. ``PoliteFetcher`` is the entry point."""

from scraper.fetching.address_guard import AddressNotAllowed, AddressPolicy
from scraper.fetching.fetcher import FetchedResource, FetchRejected, PoliteFetcher, redact_url, status_problem

__all__ = ["AddressNotAllowed", "AddressPolicy", "FetchRejected", "FetchedResource", "PoliteFetcher", "redact_url", "status_problem"]
