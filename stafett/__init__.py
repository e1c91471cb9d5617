"""The `stafett` command: runs, migrates and demonstrates the three services."""
