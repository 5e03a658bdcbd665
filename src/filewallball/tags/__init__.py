"""Tags: normalised labels on files, managed by their owners, counted across what one may see."""
