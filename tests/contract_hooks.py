"""Schemathesis hooks for the contract test (SCHEMATHESIS_HOOKS=tests.contract_hooks): a tus
chunk is bytes, sent as `application/offset+octet-stream`, which schemathesis does not know."""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
