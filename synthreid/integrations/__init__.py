"""Adapters that let other re-ID libraries load synthreid datasets as their own.

- :mod:`synthreid.integrations.torchreid`: ``register()`` adds a torchreid image dataset.
- :mod:`synthreid.integrations.fastreid`: ``register()`` adds a fast-reid dataset.

Both read any folder that ``synthreid benchmark`` reads (our dataset layout, our Market-1501 or
Open-ReID exports, real Market-1501 / CUHK03-NP / Open-ReID data) through
:mod:`synthreid.integrations.reidlists`, so they carry any number of identities and cameras
and keep our splits. The libraries are optional (``pip install -e .[interop]``); nothing here
imports them at module level. See docs/interop.md.
"""
