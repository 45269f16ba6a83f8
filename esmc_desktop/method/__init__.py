"""The ESMC method on logit-lens vectors: keywords, localization, clustering head, names, metrics.

Pure numpy/scipy/scikit-learn (+ onnx for export): no Qt, no llama.cpp, no torch.
"""
