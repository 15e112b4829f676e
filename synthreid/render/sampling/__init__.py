"""synthreid.render.sampling."""
