"""The key model: training data, network, training, ONNX export and evaluation (needs the ``train`` extra)."""
