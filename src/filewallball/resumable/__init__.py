"""Resumable uploads: the tus 1.0.0 protocol at /uploads/, whose uploads any replica may
continue, and which end in the same upload pipeline as POST /upload."""
