"""A test identity provider speaking ID-porten's protocol, for local runs and tests only."""
