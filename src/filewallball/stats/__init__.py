"""Statistics from the database: totals, categories, activity per day, top files, clients,
upload errors. Activity is counted into roll-ups as it is logged, so every query reads a few
rows per day; bench/stats.py times them on 100 000 files and 1 000 000 log rows."""
