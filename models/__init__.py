"""Training code, exported ONNX weights and model cards. Imports ``bridge``; ``bridge`` never imports this."""
