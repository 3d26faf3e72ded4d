"""Hyper-parameters of a base training run, validated once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sdlab.errors import UsageError


@dataclass(frozen=True)
class BaseTrainConfig:
    """Everything that decides the weights of a base run (the checkpoint stores it)."""

    seed: int = 0
    world: str = "shapes"  # which synthetic world: shapes (64x64, one object) or shapes2 (128x128, one to three)
    # VAE (f = 2 ** (len(vae_channels) - 1))
    vae_channels: tuple[int, ...] = (32, 64, 64)
    vae_steps: int = 1500
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_object_weight: float = 0.0  # extra reconstruction weight on pixels unlike the image's background
    vae_initial_logvar: float = 0.0  # starting log-variance of the posterior (below 0: nearly deterministic at first)
    vae_check_scenes: int = 200  # scenes round-tripped and judged when the VAE stage ends (logged; 0: none)
    # text encoder (CLIP architecture)
    text_width: int = 128
    text_layers: int = 3
    text_heads: int = 4
    # UNet
    unet_channels: tuple[int, ...] = (32, 64, 128)
    unet_layers_per_block: int = 2
    unet_head_dim: int = 4
    unet_attention_everywhere: bool = False  # cross-attention at every resolution (else not at the first)
    unet_steps: int = 6000
    unet_batch: int = 48
    unet_lr: float = 5e-4
    dataset_size: int = 30000
    caption_dropout: float = 0.1
    caption_detail: float = 0.5
    min_snr_gamma: float = 5.0
    ema_decay: float = 0.999
    norm_groups: int = 16
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        for name in ("vae_steps", "unet_steps", "vae_batch", "unet_batch", "dataset_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise UsageError(name.replace("_", "-"), f"must be at least 1, got {getattr(self, name)}")
        if self.vae_check_scenes < 0:
            raise UsageError("vae-check-scenes", f"must be at least 0, got {self.vae_check_scenes}")
        if self.vae_object_weight < 0:
            raise UsageError("vae-object-weight", f"must be at least 0, got {self.vae_object_weight}")
        for name in ("vae_lr", "unet_lr"):
            if not getattr(self, name) > 0:
                raise UsageError(name.replace("_", "-"), f"must be > 0, got {getattr(self, name)}")
        for name in ("caption_dropout", "caption_detail"):
            if not 0 <= getattr(self, name) <= 1:
                raise UsageError(name.replace("_", "-"), f"must be in [0, 1], got {getattr(self, name)}")
        from sdlab.training.base.worlds import training_world

        training_world(self.world)  # an unknown world is refused here, naming the known ones
        if not 0 <= self.ema_decay < 1:
            raise UsageError("ema-decay", f"must be in [0, 1), got {self.ema_decay}")

    @property
    def image_size(self) -> int:
        from sdlab.training.base.worlds import training_world

        return training_world(self.world).image_size

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.vae_channels) - 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BaseTrainConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields})


#: A configuration small enough to train end to end in seconds (tests, smoke runs).
TINY = BaseTrainConfig(
    vae_channels=(8, 16), vae_steps=4, vae_batch=4,
    text_width=32, text_layers=1, text_heads=2,
    unet_channels=(16, 32), unet_layers_per_block=1, unet_head_dim=2,
    unet_steps=6, unet_batch=4, dataset_size=32, norm_groups=8, checkpoint_every=3, vae_check_scenes=4,
)


#: sdlab-shapes 2's recipe: a miniature of SD 1.5 (VAE downsampling 8, 4 latent channels, cross-attention at
#: every UNet resolution, CLIP text encoder with its BPE tokenizer) on world 2's 128x128 scenes. Sized by
#: measurement on 2 CPU cores: a UNet step 1.0 s (v1's 0.53 s), a VAE step 0.53 s, so about 4.3 hours in all;
#: 8.3 M parameters, 33 MB in fp32. Objects cover a few percent of a 128x128 scene: with plain MSE and SD's
#: posterior start the VAE drew no object correctly after 1,000 steps (the judge read 1 in 98 one-object
#: scenes back), hence the object weight and the nearly deterministic start (14 of 65 after 1,000 steps of a
#: 1,000-step schedule; a VAE twice as wide did no better in the same time). After the 6,000 steps the judge
#: reads 84 % / 68 % / 56 % of 1- / 2- / 3-object scenes of every shape back (91 / 95 / 89 % of the base shapes'
#: training scenes, size and position included).
SHAPES2 = BaseTrainConfig(
    world="shapes2", vae_channels=(16, 32, 64, 64), vae_steps=6000, vae_batch=8,
    vae_object_weight=20.0, vae_initial_logvar=-6.0,
    text_width=128, text_layers=3, text_heads=4,
    unet_channels=(32, 64, 128), unet_layers_per_block=2, unet_head_dim=4, unet_attention_everywhere=True,
    unet_steps=12000, unet_batch=48, dataset_size=40000, norm_groups=8,
)
#: A seconds-long run on world 2, to check the pipeline end to end.
TINY2 = BaseTrainConfig(
    world="shapes2", vae_channels=(8, 16, 16, 16), vae_steps=4, vae_batch=2,
    text_width=32, text_layers=1, text_heads=2,
    unet_channels=(16, 32), unet_layers_per_block=1, unet_head_dim=2, unet_attention_everywhere=True,
    unet_steps=6, unet_batch=4, dataset_size=16, norm_groups=8, checkpoint_every=3, vae_check_scenes=4,
)

#: LoRA training settings a world's model carries in its sdlab.json ("lora"), chosen by measurement on the trained
#: model (see its model card); `sdlab train-lora` fills what a request leaves unset from them. Not part of
#: BaseTrainConfig: they do not shape the base weights, and changing them needs no retraining (re-export).
LORA_DEFAULTS: dict[str, dict] = {}

#: Recipe name -> (its configuration, its seconds-long smoke configuration), for `sdlab train-base --recipe`.
RECIPES = {"shapes": (BaseTrainConfig(), TINY), "shapes2": (SHAPES2, TINY2)}
