"""The reproduction pipeline that ``dvc.yaml`` runs: one module per stage.

``dvc.yaml`` calls the commands of :mod:`.cli`; each stage's code is listed among that
stage's ``deps`` so that ``dvc repro`` re-runs a stage whose code changed.
"""
