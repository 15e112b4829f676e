"""synthreid.benchmark."""
