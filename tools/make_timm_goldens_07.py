"""Make chapter 07's golden fixtures with timm's own code (run once by hand; the tests only read the files).

    python tools/make_timm_goldens_07.py          # needs timm importable (any 1.0.x)

Writes, in float64 and eval mode:

* ``tests/fixtures/timm_mixer_small.pt``: timm ``MlpMixer(img_size=32, patch_size=8, embed_dim=24,
  num_blocks=2, mlp_ratio=(0.5, 4.0), num_classes=10)`` with every tensor drawn at random; its ``config``,
  ``state_dict``, ``input``, ``features``, ``logits`` and ``forward_intermediates`` outputs
  (``intermediates_nchw``: defaults; ``intermediates_nlc_norm``: ``norm=True, output_fmt='NLC'``).
* ``tests/fixtures/timm_mixer_b16_224_keys.json``: every state_dict key and shape of timm's
  ``mixer_b16_224`` in order, with its parameter count.
* ``tests/fixtures/timm_intermediates_vit_resnet.pt``: timm's ``forward_intermediates`` of the ViT and
  ResNet of the existing goldens ``vit_tiny.pt`` and ``timm_resnet50_tiny.pt`` (same weights, same input).

Made with timm 1.0.29.dev0 (source of huggingface/pytorch-image-models @aa4b585), torch 2.13 CPU. timm's
package imports torchvision at import time; on a machine without it, a stand-in module that only satisfies
those imports was put on the path (MlpMixer, VisionTransformer and ResNet call nothing from torchvision).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

import timm
from timm.models.mlp_mixer import MlpMixer
from timm.models.resnet import Bottleneck, ResNet
from timm.models.vision_transformer import VisionTransformer

FIX = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def randomise(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or ".norm1.weight" in name or ".norm2.weight" in name:
                p.add_(1.0)  # LayerNorm gains around 1


def mixer_small() -> None:
    config = dict(img_size=32, patch_size=8, in_chans=3, embed_dim=24, num_blocks=2, mlp_ratio=(0.5, 4.0), num_classes=10)
    model = MlpMixer(**config).to(torch.float64).eval()
    randomise(model, 7)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model.forward_head(features)
        final, nchw = model.forward_intermediates(x)
        nlc = model.forward_intermediates(x, norm=True, output_fmt="NLC", intermediates_only=True)
    assert torch.equal(final, features)
    torch.save(
        {"config": config, "timm_version": timm.__version__, "state_dict": model.state_dict(), "input": x,
         "features": features, "logits": logits, "intermediates_nchw": nchw, "intermediates_nlc_norm": nlc},
        FIX / "timm_mixer_small.pt",
    )


def mixer_b16_keys() -> None:
    with torch.device("meta"):
        model = timm.create_model("mixer_b16_224", pretrained=False)
    keys = {k: list(v.shape) for k, v in model.state_dict().items()}
    n = sum(p.numel() for p in model.parameters())
    out = {"model": "mixer_b16_224", "timm_version": timm.__version__, "num_params": n, "state_dict": keys}
    (FIX / "timm_mixer_b16_224_keys.json").write_text(json.dumps(out, indent=0))


def vit_and_resnet_intermediates() -> None:
    out = {"timm_version": timm.__version__}
    ref = torch.load(FIX / "vit_tiny.pt")
    cfg = {k: v for k, v in ref["config"].items() if k != "family"}
    vit = VisionTransformer(**cfg).to(torch.float64).eval()
    vit.load_state_dict(ref["state_dict"], strict=True)
    with torch.no_grad():
        final, nchw = vit.forward_intermediates(ref["input"])
        pairs = vit.forward_intermediates(
            ref["input"], indices=[0, -1], return_prefix_tokens=True, norm=True, output_fmt="NLC",
            intermediates_only=True,
        )
    out["vit_final"], out["vit_nchw"] = final, nchw
    out["vit_nlc_norm_prefix"] = [list(p) for p in pairs]

    ref = torch.load(FIX / "timm_resnet50_tiny.pt")
    c = ref["config"]
    net = ResNet(Bottleneck, layers=c["layers"], channels=c["channels"], num_classes=c["num_classes"])
    net = net.to(torch.float64).eval()
    net.load_state_dict(ref["state_dict"], strict=True)
    with torch.no_grad():
        final, feats = net.forward_intermediates(ref["input"])
        last2 = net.forward_intermediates(ref["input"], indices=2, intermediates_only=True)
    out["resnet_final"], out["resnet_all"], out["resnet_last2"] = final, feats, last2
    torch.save(out, FIX / "timm_intermediates_vit_resnet.pt")


if __name__ == "__main__":
    mixer_small()
    mixer_b16_keys()
    vit_and_resnet_intermediates()
    print("written to", FIX)
