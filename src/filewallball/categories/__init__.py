"""Categories: every file has one, from its extension ('other' when unknown)."""
