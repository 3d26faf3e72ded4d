"""The engine: model loading, samplers, prompts, metadata, and running diffusers pipelines."""
