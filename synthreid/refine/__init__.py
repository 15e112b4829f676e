"""synthreid.refine."""
