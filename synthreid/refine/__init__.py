"""synthreid.refine: GAN refiners (CycleGAN, PTGAN, fg/bg) that make renders look like a target camera.

Modules: ``config`` (RefinerConfig), ``networks`` (generators, PatchGAN), ``losses``, ``pool``
(image pool), ``data`` (unpaired batches), ``model`` (RefinerModel: one training step of
every variant), ``train`` (loop, checkpoints, logs), ``apply`` (refined datasets), ``cli``.
Nothing here is imported at package import time (torch stays unloaded for ``--help``).
"""
