"""The web pages for people: upload and share, a file's share page, and browsing."""
