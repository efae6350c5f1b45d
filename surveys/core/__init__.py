"""Shared infrastructure: settings, database, clock, periods, message markers, errors, masking."""
