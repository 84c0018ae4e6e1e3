"""The edge where people look at the data: DuckDB SQL (:mod:`~dpo_frames.explore.sql`), quality
checks (:mod:`~dpo_frames.explore.quality`) and the HTML report (:mod:`~dpo_frames.explore.report`,
the ``report`` extra). Import the module you need; this package imports none of them.
"""
