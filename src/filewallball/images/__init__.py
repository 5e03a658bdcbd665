"""Images: thumbnails made in a separate, limited process, and image facts for the file info."""
