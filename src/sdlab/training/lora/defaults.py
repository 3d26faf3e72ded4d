"""LoRA training defaults that live with a model: its sdlab.json's "lora" section fills what a request leaves unset.

A small model wants other settings than SD 1.5 (a higher learning rate, fewer steps); with them in the
model's card, `sdlab train-lora photos/ -o subject.safetensors` works on it with no tuning flags. What the
user sets always wins.
"""

from __future__ import annotations

from sdlab.engine.sources import model_card
from sdlab.requests.lora_training import LoraTrainRequest, build_lora_request

#: The request fields a model card may set: those that shape training, never paths or run control.
MODEL_SETTABLE = frozenset({
    "resolution", "flip", "rank", "alpha", "unet_targets", "train_text_encoder", "unet_lr", "text_encoder_lr",
    "lr_schedule", "warmup_steps", "steps", "batch_size", "gradient_accumulation", "min_snr_gamma", "noise_offset",
    "caption_dropout", "prior_loss_weight", "class_images"})


def with_model_defaults(request: LoraTrainRequest) -> LoraTrainRequest:
    """`request` with the unset fields its model's card gives filled in (validated like the user's own)."""
    card = model_card(request.model).get("lora")
    if not isinstance(card, dict):
        return request
    unset = {k: v for k, v in card.items() if k in MODEL_SETTABLE and k not in request.model_fields_set}
    if not unset:
        return request
    return build_lora_request(**request.model_dump(exclude_unset=True), **unset)
