"""Backups: one consistent snapshot of the metadata and every blob it names, restored into an
empty instance on any database, and checked without restoring."""
