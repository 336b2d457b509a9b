"""What feeder remembers between runs (the state database) and the build lock.

Nothing is imported here: each module loads only what it uses.
"""
