"""Loading, validating and compiling the knowledge base in ``knowledge/``."""
