"""What two or more of the stafettlogg services truly share: wire schemas, token checks, crypto."""
