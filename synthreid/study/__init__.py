"""``synthreid study``: one declarative, cached, resumable transfer experiment.

Modules: ``spec`` (the study file, typed and validated), ``fingerprint`` (content keys of
folders), ``cache`` (content-addressed step cache), ``targets`` (a folder of real crops as a
refiner target), ``steps`` (render, refine, train, evaluate), ``baselines`` (chance, untrained
network, LOMO-like hand-crafted features), ``schedule`` (which steps may run side by side, the
ETA), ``pool`` (worker processes), ``runner`` (plan, execute, progress, timing),
``report`` (report.md/csv and figures), ``cli``. Importing the package imports nothing heavy.
"""
