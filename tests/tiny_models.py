"""Tiny randomly initialised models built from small configs, saved where the product's loaders look for them
(diffusers' fast tests do the same; tokenizers are built offline here instead of downloaded)."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ("a photo of product studio floor wall light soft shadow room wooden chair table white grey background "
         "catalogue warm calm scandinavian with on the and in").split()


def _word_tokenizer(max_length: int, specials: dict[str, str]):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(list(dict.fromkeys(specials.values())) + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=specials["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=max_length, **specials)


def tiny_flux_fill(folder: Path, revision: str = "tiny-random-1") -> Path:
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxFillPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=20, out_channels=8, num_layers=1,
                                         num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
                                         joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
    clip = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37,
                                        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
                                        pad_token_id=1, vocab_size=64, hidden_act="gelu", projection_dim=32))
    t5 = T5EncoderModel(T5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=37, num_layers=1, num_heads=4,
                                 decoder_start_token_id=0, pad_token_id=0, eos_token_id=1))
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
                        latent_channels=2, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0609, scaling_factor=1.5035)
    pipe = FluxFillPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=clip, text_encoder_2=t5,
        transformer=transformer,
        tokenizer=_word_tokenizer(77, {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}),
        tokenizer_2=_word_tokenizer(64, {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}))
    target = folder / "flux-fill"
    pipe.save_pretrained(target)
    (target / ".revision").write_text(revision + "\n")
    return target


def tiny_realesrgan(folder: Path, revision: str = "tiny-random-1") -> Path:
    from pipeline.backends.realesrgan import RRDBNet

    torch.manual_seed(0)
    net = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    target = folder / "realesrgan"
    target.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": net.state_dict()}, target / "RealESRGAN_x4.pth")
    (target / ".revision").write_text(revision + "\n")
    return target


def tiny_sam2(folder: Path, revision: str = "tiny-random-1") -> Path:
    from transformers import (Sam2Config, Sam2HieraDetConfig, Sam2MaskDecoderConfig, Sam2Model,
                              Sam2PromptEncoderConfig, Sam2VisionConfig)

    torch.manual_seed(0)
    backbone = Sam2HieraDetConfig(hidden_size=12, num_channels=3, image_size=128, patch_stride=4, patch_kernel_size=7,
                                  patch_padding=3, blocks_per_stage=[1, 1, 1, 1], embed_dim_per_stage=[12, 24, 48, 96])
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[96, 48, 24, 12],
                              backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]], fpn_hidden_size=32)
    config = Sam2Config(vision_config=vision,
                        prompt_encoder_config=Sam2PromptEncoderConfig(image_size=128, patch_size=16,
                                                                      mask_input_channels=8, hidden_size=32,
                                                                      num_point_embeddings=4),
                        mask_decoder_config=Sam2MaskDecoderConfig(hidden_size=32, hidden_act="relu", mlp_dim=64,
                                                                  num_hidden_layers=2, num_attention_heads=4,
                                                                  iou_head_hidden_dim=32))
    target = folder / "sam2"
    Sam2Model(config).save_pretrained(target)
    (target / ".revision").write_text(revision + "\n")
    return target


TINY_DINOV2 = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, image_size=28,
                   patch_size=14)


def tiny_orient_anything_checkpoint(folder: Path) -> tuple[Path, Path]:
    """A checkpoint in the published layout (one state dict: ``dinov2.*`` backbone, ``down_sampler.*`` head with
    batch norm) and the backbone's config.json, as ``bgflow models download`` fetches them."""
    from torch import nn
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    config = Dinov2Config(**TINY_DINOV2)
    backbone = Dinov2Model(config)
    out = 360 + 180 + 180 + 2
    head = nn.ModuleDict({"net1": nn.Sequential(nn.Linear(32, out), nn.BatchNorm1d(out), nn.ReLU()),
                          "net2": nn.Sequential(nn.Linear(out, out), nn.BatchNorm1d(out))})
    for bn in (head["net1"][1], head["net2"][1]):  # trained statistics, not the identity
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 2.0)
    state = {f"dinov2.{k}": v for k, v in backbone.state_dict().items()}
    state |= {f"down_sampler.{k}": v for k, v in head.state_dict().items()}
    torch.save(state, folder / "dino_weight.pt")
    config.to_json_file(str(folder / "config.json"))
    return folder / "dino_weight.pt", folder / "config.json"


def tiny_orient_anything(folder: Path, revision: str = "tiny-random-1") -> Path:
    from pipeline.backends.orient_anything import convert_checkpoint

    checkpoint, config = tiny_orient_anything_checkpoint(folder / "orient-anything-published")
    target = folder / "orient-anything"
    convert_checkpoint(checkpoint, config, target)
    (target / ".revision").write_text(revision + "\n")
    return target


def all_tiny(folder: Path) -> Path:
    for build in (tiny_flux_fill, tiny_realesrgan, tiny_sam2, tiny_orient_anything):
        build(folder)
    return folder
