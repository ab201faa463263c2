"""The routine and one user's run of it: the steps, the engine over deadlines, cues, the Coach."""
