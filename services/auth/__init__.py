"""auth: the OIDC relying party, sessions, key custody and the service-token issuer."""
