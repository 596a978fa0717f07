"""Report: what a person reads.  A run's outputs written whole (:mod:`.outputs`), its plots
(:mod:`.plotting`), a comparison's table, plots and HTML report (:mod:`.compare_table`,
:mod:`.compare_plots`, :mod:`.compare_html`), a sweep's plots (:mod:`.sweep_plots`).
"""
