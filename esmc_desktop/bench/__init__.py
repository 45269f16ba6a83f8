"""`esmc-desktop bench`: ESMC, its ablations and the papers' baselines on a labelled dataset.

    dataset.py   the dataset layout DATASET/<criterion>/<label>/<image> and its criteria.toml
    methods.py   the methods compared (what each one is), the bench's settings, the report's rows
    readings.py  the bench's own pass over the photos besides ESMC's job (last-token vectors, keyword
                 and label-name logits, image embeddings, sampled answers), cached
    run.py       every method on every criterion, same photos, the model opened once; the scores
    report.py    the report as a Markdown table, its CSV and a chart of NMI with its spread

Below the application layer (app/bench.py is its face) and above engine/, method/ and photos/.
"""
