"""Administration: API keys, network rules, extension rules, the audit log, restore and purge."""
