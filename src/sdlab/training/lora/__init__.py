"""LoRA training: data, loop, and the files it writes."""
