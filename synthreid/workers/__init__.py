"""synthreid.workers."""
