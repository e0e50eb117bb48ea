"""Collectors: fetch sources over HTTP and parse them into observations (no database access)."""
