"""Stemscope's models: shipped ONNX files with their manifests, and the code that makes them.

Training code may import torch; runtime code (plugin/, ui/) never does.
"""
