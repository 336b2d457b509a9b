"""The programs: the build pipeline, the command line, the daemon and the server. They only wire the stages.

Nothing is imported here: each module loads only what it uses.
"""
