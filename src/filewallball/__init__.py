"""FileWallBall: upload a file, get a link to view it and a link to download it."""

__version__ = "0.1.0"
