"""Waking the watches that wait on a user's run when it changes: in one process, or via Redis."""
