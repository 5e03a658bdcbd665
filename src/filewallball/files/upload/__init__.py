"""The upload pipeline: what happens to an uploaded file, whatever carries its bytes.

    policy      may this file come in, and how big may it be (a short lookup, then no connection)
    landing     the bytes: size limit, SHA-256, content sniffing, malware scan, blob commit
    recording   the row, its tags, its jobs and the upload log, in one transaction
    accounting  the outcome: metrics, the failed attempt's log row
    pipeline    the pieces in order for one attempt, and the clean-up when any of them fails

A transport (multipart.py; a raw body or tus chunks later) feeds `pipeline.Upload` and
knows nothing of the steps.
"""
