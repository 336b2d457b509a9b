"""Original-URL checks: the checker (HTTP), the policy (pure decisions) and a round over the state.

Nothing is imported here: each module loads only what it uses.
"""
