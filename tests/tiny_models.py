"""Tiny random-weight SD 1.x, SD 1.x-inpainting and SDXL pipelines, built offline (diffusers-test style)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    PNDMScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from sdlab.training.base.tokenizer import learn_merges, write_clip_tokenizer

WORDS = "a red green blue circle square triangle on the white black background photo of cat dog , ( ) : 1 2 3".split()
SD_SCHEDULE = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000, steps_offset=1)
SIZE = 32  # pixels; the VAE below downsamples by 2


def tokenizer(folder: Path) -> CLIPTokenizer:
    write_clip_tokenizer(folder, learn_merges(Counter({w: 10 for w in WORDS})))
    return CLIPTokenizer.from_pretrained(folder)


def _text_config(tok: CLIPTokenizer, width: int) -> CLIPTextConfig:
    vocab = tok.get_vocab()
    return CLIPTextConfig(vocab_size=len(vocab), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                          num_attention_heads=2, max_position_embeddings=77, projection_dim=width,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)


def _vae() -> AutoencoderKL:
    return AutoencoderKL(block_out_channels=(8, 16), layers_per_block=1, latent_channels=4, norm_num_groups=4,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         sample_size=SIZE)


def sd1(folder: Path, inpainting: bool = False) -> Path:
    """Save a tiny SD 1.x pipeline (9-channel UNet if `inpainting`) to `folder`."""
    torch.manual_seed(0)
    tok = tokenizer(folder / "_tok")
    unet = UNet2DConditionModel(
        sample_size=SIZE // 2, in_channels=9 if inpainting else 4, out_channels=4, block_out_channels=(8, 16),
        layers_per_block=2, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16, norm_num_groups=4,
        attention_head_dim=2)
    cls = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
    pipe = cls(vae=_vae(), text_encoder=CLIPTextModel(_text_config(tok, 16)), tokenizer=tok, unet=unet,
               scheduler=PNDMScheduler(**SD_SCHEDULE, skip_prk_steps=True), safety_checker=None,
               feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def sdxl(folder: Path) -> Path:
    """Save a tiny SDXL pipeline (two text encoders of different widths, as in SDXL) to `folder`."""
    torch.manual_seed(0)
    tok = tokenizer(folder / "_tok")
    unet = UNet2DConditionModel(
        sample_size=SIZE // 2, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=48, norm_num_groups=4, attention_head_dim=(2, 4), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=8 * 6 + 32)
    pipe = StableDiffusionXLPipeline(
        vae=_vae(), text_encoder=CLIPTextModel(_text_config(tok, 16)),
        text_encoder_2=CLIPTextModelWithProjection(_text_config(tok, 32)), tokenizer=tok, tokenizer_2=tok, unet=unet,
        scheduler=EulerDiscreteScheduler(**SD_SCHEDULE, timestep_spacing="leading"))
    pipe.save_pretrained(folder)
    return folder


def clip(folder: Path) -> Path:
    """A random CLIP (text and vision towers, projection 8) with its processor, for CLIP metrics."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tok = tokenizer(folder / "tokenizer")
    text = dict(vocab_size=len(tok.get_vocab()), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=77, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)).save_pretrained(folder)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32), tokenizer=tok)
    processor.save_pretrained(folder)
    return folder
