"""Durable background jobs: thumbnails, and whatever slow work comes next.

A job is a row in the `jobs` table, written in the same transaction as the change that needs
it, so there is never a file without its pending work. Workers in every replica claim jobs
with a lease; a worker killed mid-job lets its lease run out, and another worker (or the same
one after a restart) takes the job again. Jobs must therefore be idempotent.

With FWB_REDIS_URL set, a Redis stream with one consumer group carries a wake-up for each new
job, so the replica that is free picks it up at once; without it, an in-process event does the
same. Either way the database stays the one record of what is to be done, and a periodic scan
finds what a lost wake-up or an expired lease left behind.
"""
