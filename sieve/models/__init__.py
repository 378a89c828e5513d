"""The fast classifier: student families (families/: n-gram, minilm) behind one seam, the
onnxruntime classifier they serve through (classifier.py), the registry of artefact
folders, calibration and evaluation. Serving imports no torch: training code loads only
inside a family's ``train``."""
