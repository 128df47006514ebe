"""The runs layer: everything that reads or writes a directory.

Each runner takes validated settings and a directory, claims it (`claim`: the same job
continues, another is refused), computes with the pure layers below (train, analysis, condense,
plots) and writes its files atomically under the names of `rnncondense.layout`:

    train      a run directory: train_run, load_run
    analyze    analysis/activity.nc, analysis/metrics.json and the analysis figures
    plot       the task figures of a run
    condense   a condensation, step by step, resumable, and its figures
    sweep      a sweep on Dask (sweep_network: one network on a worker; sweep_table: the tables)
    study      every stage of the study, then the report
    report     the study as one self-contained web page
    circuits   a circuit model's figures, animations and summary.json
    figures    the one place where a Figure becomes a file
"""
