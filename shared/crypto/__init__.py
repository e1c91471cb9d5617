"""Small, named crypto modules, one concern each. See docs/crypto.md for the formats."""
