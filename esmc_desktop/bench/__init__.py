"""`esmc-desktop bench`: ESMC, its ablations and the papers' baselines on a labelled dataset.

    dataset.py   the dataset layout DATASET/<criterion>/<label>/<image> and its criteria.toml
    run.py       the methods, run on the same photos with the same model; the report's rows
    report.py    the report as a Markdown table, its CSV and a chart of NMI with its spread

Below the application layer (app/bench.py is its face) and above engine/, method/ and photos/.
"""
