"""Files: upload, describe, list, preview, download and delete."""
