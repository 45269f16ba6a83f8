"""The engine under every use case: from a model pair and photos to readings and clusterings.

    settings.py    MethodSettings (how ESMC reads and clusters), ComputeRequest (what the user asked of the
                   machine) and ComputePlan (what it runs with, resolved once)
    session.py     ModelSession: a model pair opened once per use case (checks, headers read once, GPU plan,
                   CPU weight layout), handing out the runtime, the lens and the feature cache
    photo_loop.py  the one loop over photos: prefetch, cancel, skips, model runs, times, progress
    types.py       Criterion, Progress, the results
    cluster.py     ClusterJob: scan, keywords, localization, the photo pass, one clustering per criterion
    assign.py      new photos into a saved result with its heads

Below the application layer (esmc_desktop.app) and above method/, mllm/ and photos/.
"""
