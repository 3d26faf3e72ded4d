"""Base training of the embedded model: VAE, tokenizer, text encoder, UNet."""
