"""synthreid: a synthetic-data factory for person re-identification.

Subpackages: ``render`` (specs, sampling, geometry, Blender), ``workers`` (catalog, farm),
``refine`` (GAN refiners), ``benchmark`` (re-ID training and evaluation). Importing this
package imports nothing heavy (no bpy, no torch).
"""

__version__ = "0.1.0"
