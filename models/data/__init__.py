"""Training data: the instrument taxonomy and the synthetic multitrack corpus generator."""
