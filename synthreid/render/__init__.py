"""synthreid.render."""
