"""synthreid.benchmark: how well a re-ID model trained on a dataset transfers to real people.

Modules: ``datasets`` (readers + format detection), ``export`` (Market-1501 / Open-ReID),
``models`` (registry: inception, resnet50, tiny), ``metrics`` (Open-ReID CMC/mAP, Market
protocol), ``protocols`` (thesis, market, cuhk03), ``data`` (transforms, loaders), ``engine``
(train/resume/finetune/evaluate), ``runs`` (run directory, catalog hook), ``report``, ``cli``.
Nothing is imported here: torch loads only when a command needs it.
"""
