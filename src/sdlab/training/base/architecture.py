"""The embedded model's parts, built from a config with diffusers and transformers classes."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from sdlab.training.base.config import BaseTrainConfig

#: Stable Diffusion's training noise schedule, so every SD sampler applies unchanged.
NOISE_SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def build_vae(cfg: BaseTrainConfig) -> AutoencoderKL:
    n = len(cfg.vae_channels)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=cfg.image_size,
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=cfg.vae_channels, layers_per_block=1, norm_num_groups=cfg.norm_groups,
    )
    if cfg.vae_initial_logvar:  # quant_conv's outputs are (mean, log-variance), 4 channels each
        with torch.no_grad():
            vae.quant_conv.bias[vae.config.latent_channels:] += cfg.vae_initial_logvar
    return vae


def build_text_encoder(cfg: BaseTrainConfig, vocab_size: int, bos_id: int, eos_id: int) -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=cfg.text_width, intermediate_size=4 * cfg.text_width,
        num_hidden_layers=cfg.text_layers, num_attention_heads=cfg.text_heads, max_position_embeddings=77,
        bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=eos_id, hidden_act="quick_gelu",
        projection_dim=cfg.text_width,
    )
    return CLIPTextModel(config)


def build_unet(cfg: BaseTrainConfig) -> UNet2DConditionModel:
    n = len(cfg.unet_channels)
    plain = 0 if cfg.unet_attention_everywhere else 1  # v1 leaves the highest resolution without attention
    down = ("DownBlock2D",) * plain + ("CrossAttnDownBlock2D",) * (n - plain)
    up = ("CrossAttnUpBlock2D",) * (n - plain) + ("UpBlock2D",) * plain
    return UNet2DConditionModel(
        sample_size=cfg.latent_size, in_channels=4, out_channels=4,
        block_out_channels=cfg.unet_channels, layers_per_block=cfg.unet_layers_per_block,
        down_block_types=down, up_block_types=up, cross_attention_dim=cfg.text_width,
        attention_head_dim=cfg.unet_head_dim, norm_num_groups=cfg.norm_groups,
    )


def build_scheduler() -> DPMSolverMultistepScheduler:
    """The shipped default sampler (DPM++ 2M) over SD's training noise schedule."""
    return DPMSolverMultistepScheduler(**NOISE_SCHEDULE, prediction_type="epsilon", steps_offset=1)
