"""Collectors: one module per source; each yields normalized records and never touches the database."""
