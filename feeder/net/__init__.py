"""Outgoing HTTP: the address guard and the one client set-up every request goes through.

Nothing is imported here: each module loads only what it uses.
"""
