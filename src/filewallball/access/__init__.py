"""Access: who the caller is (API keys and roles), from where (IP rules), how often (rate
limits), and the audit log of what they did."""
