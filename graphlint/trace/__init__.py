"""The runtime pass: run a training script under torch hooks and explain, per parameter, why it does not train."""
