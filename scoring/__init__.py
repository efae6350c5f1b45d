"""Scoring: the 民意调查 component and the half-year and annual evaluation (domain.md §1, §5).

* :mod:`scoring.monitoring`: imports of 日常监测, 实地调研 and 第三方评估 (all rows or none).
* :mod:`scoring.method`: the method file (``scoring/method.yaml`` or SCORING_METHOD_FILE).
* :mod:`scoring.aggregate`: level counts per unit, grouped in SQL.
* :mod:`scoring.compute`: the pure arithmetic (scores, intervals, shrinkage, ranks, bands).
* :mod:`scoring.service`: :func:`~scoring.service.score_period` and ``score_year``.
* :mod:`scoring.export`: XLSX, CSV and JSON exports.
"""
