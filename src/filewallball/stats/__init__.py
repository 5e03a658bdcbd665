"""Statistics from the database: totals, categories, activity per day, top files, clients,
upload errors. Every query reads an index range; bench/stats.py times them on 100 000 files
and 1 000 000 log rows."""
