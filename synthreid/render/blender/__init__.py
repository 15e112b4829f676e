"""synthreid.render.blender."""
