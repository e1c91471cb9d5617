"""`make bench`: logg driven over real HTTP by wrk, against a bare floor app, plus crypto costs.

See docs/performance.md for the method and the figures.
"""
