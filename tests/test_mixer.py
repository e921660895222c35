"""Tests of cnnvit_ref.mixer (MLP-Mixer, chapter 07) against real oracles.

Oracles: timm's own MlpMixer on a small configuration (tests/fixtures/timm_mixer_small.pt: weights, input,
features, logits, forward_intermediates; made by tools/make_timm_goldens_07.py), timm's mixer_b16_224
state_dict layout (tests/fixtures/timm_mixer_b16_224_keys.json), the paper's Eq. 1 written out with functional
ops, and the published size (Tolstikhin et al. 2021, Table 1) next to counts derived by hand.
"""
from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F

from cnnvit_ref import flops, models
from cnnvit_ref.mixer import MixerBlock, MixerConfig, MlpMixer
from helpers import FIXTURES, generator, raises, randomise, state_dict_shapes, train_losses

DT = torch.float64
TIMM_B16 = json.loads((FIXTURES / "timm_mixer_b16_224_keys.json").read_text())


# ------------------------------------------------------------------------------ the block = the paper's Eq. 1
def test_mixer_block_is_eq_1():
    blk = randomise(MixerBlock(dim=6, seq_len=5, tokens_dim=3, channels_dim=12).to(DT), seed=1)
    x = torch.randn(2, 5, 6, generator=generator(2), dtype=DT)

    def ln(t, norm):
        return F.layer_norm(t, (6,), norm.weight, norm.bias, 1e-6)

    t, c = blk.mlp_tokens, blk.mlp_channels
    # U_{*,i} = X_{*,i} + W2 GELU(W1 LayerNorm(X)_{*,i})  for every channel i (columns of the N x D table)
    u = x + (t.fc2.weight @ F.gelu(t.fc1.weight @ ln(x, blk.norm1) + t.fc1.bias[:, None]) + t.fc2.bias[:, None])
    # Y_{j,*} = U_{j,*} + W4 GELU(W3 LayerNorm(U)_{j,*})  for every token j (rows)
    y = u + F.linear(F.gelu(F.linear(ln(u, blk.norm2), c.fc1.weight, c.fc1.bias)), c.fc2.weight, c.fc2.bias)
    torch.testing.assert_close(blk(x), y, rtol=1e-12, atol=1e-12)
    assert "seq_len=5" in repr(blk) and "tokens_dim=3" in repr(blk)


# ------------------------------------------------------------------------------ golden: timm
def _small():
    ref = torch.load(FIXTURES / "timm_mixer_small.pt")
    model = MlpMixer(MixerConfig(**ref["config"])).to(DT).eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    return model, ref


def test_golden_timm_mixer_small():
    model, ref = _small()
    assert list(model.state_dict()) == list(ref["state_dict"])  # timm's key order
    with torch.no_grad():
        features = model.forward_features(ref["input"])
        torch.testing.assert_close(features, ref["features"], rtol=0, atol=1e-10)
        torch.testing.assert_close(model.forward_head(features), ref["logits"], rtol=0, atol=1e-10)
        torch.testing.assert_close(model(ref["input"]), ref["logits"], rtol=0, atol=1e-10)


def test_forward_intermediates_match_timm():
    model, ref = _small()
    with torch.no_grad():
        final, nchw = model.forward_intermediates(ref["input"])
        nlc = model.forward_intermediates(ref["input"], norm=True, output_fmt="NLC", intermediates_only=True)
        features = model.forward_features(ref["input"])
    torch.testing.assert_close(final, features, rtol=0, atol=0)  # final = forward_features (after the norm)
    assert len(nchw) == 2 and all(t.shape == (2, 24, 4, 4) for t in nchw)  # 2 blocks, width 24, 4x4 patches
    for ours, theirs in zip(nchw + nlc, ref["intermediates_nchw"] + ref["intermediates_nlc_norm"]):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)
    # with norm=True the last intermediate is forward_features itself; NCHW is the NLC grid, row-major
    torch.testing.assert_close(nlc[-1], features, rtol=0, atol=0)
    with torch.no_grad():
        plain = model.forward_intermediates(ref["input"], output_fmt="NLC", intermediates_only=True)
        for grid, tokens in zip(nchw, plain):
            torch.testing.assert_close(grid.flatten(2).transpose(1, 2), tokens, rtol=0, atol=0)
        last = model.forward_intermediates(ref["input"], indices=1, output_fmt="NLC", intermediates_only=True)
        early, first = model.forward_intermediates(ref["input"], indices=[0], stop_early=True, output_fmt="NLC")
    torch.testing.assert_close(last[0], model.blocks(model.stem(ref["input"])), rtol=0, atol=0)
    torch.testing.assert_close(model.norm(first[0]), early, rtol=0, atol=0)  # stopped after block 0


# ------------------------------------------------------------------------------ Mixer-B/16: layout and size
def test_mixer_b16_224_state_dict_is_timms():
    with torch.device("meta"):
        model = models.create("mixer_b16_224")
    assert state_dict_shapes(model) == TIMM_B16["state_dict"]
    assert list(model.state_dict()) == list(TIMM_B16["state_dict"])  # same order as timm


# Derived by hand from Table 1 (D = 768, N = 196 patches of 16x16x3, D_S = 384, D_C = 3072, 12 layers):
#   stem        768 * 768 + 768                                   =    590,592
#   per layer   2 LayerNorms 4 * 768                              =      3,072
#               token MLP (196*384 + 384) + (384*196 + 196)       =    151,108
#               channel MLP (768*3072 + 3072) + (3072*768 + 768)  =  4,722,432
#               = 4,876,612; x 12                                 = 58,519,344
#   final norm 1,536; head 768 * 1000 + 1000 = 769,000
#   total                                                         = 59,880,472  (timm: 59.88M; paper: 59M)
MIXER_B16_PARAMS = 59_880_472
# MACs at 224: stem 196 * 768 * 768; per layer 768 * 2 * 196 * 384 (token MLPs, one per channel)
# + 196 * 2 * 768 * 3072 (channel MLPs, one per token); head 768 * 1000:
MIXER_B16_MACS = 196 * 768 * 768 + 12 * (768 * 2 * 196 * 384 + 196 * 2 * 768 * 3072) + 768 * 1000  # 12,601,767,936


def test_mixer_b16_224_size_against_the_paper():
    with torch.device("meta"):
        model = models.create("mixer_b16_224")
    n = flops.count_params(model)
    assert n == MIXER_B16_PARAMS == TIMM_B16["num_params"]
    assert abs(n / 1e6 - 59) < 1.0  # Tolstikhin et al. 2021, Table 1: Mixer-B/16, 59M
    macs = flops.count_macs("mixer_b16_224", (1, 3, 224, 224))
    assert macs == MIXER_B16_MACS
    assert abs(macs / 1e9 - 12.62) < 0.03  # timm's benchmark tables: 12.62 GMACs (also counting the norms)


def test_aliases_and_overrides():
    assert models.resolve_name("mixer_b16") == "mixer_b16_224"
    assert models.resolve_name("mixer_tiny_32") == "mixer_tiny_patch4_32"
    model = models.create("mixer_tiny_patch4_32", img_size=8, patch_size=2, in_chans=1, num_classes=4)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 4)
    assert model.forward_features(torch.zeros(2, 1, 8, 8)).shape == (2, 16, 64)
    assert MixerConfig(embed_dim=10, mlp_ratio=(0.5, 4)).tokens_dim == 5


# ------------------------------------------------------------------------------ tiny preset
def test_tiny_preset_size_and_it_learns_a_batch():
    torch.manual_seed(0)
    model = models.create("mixer_tiny_patch4_32")
    # stem 64*48 + 64; per block 2*128 + (64*32+32) + (32*64+64) + (64*256+256) + (256*64+64); norm; head
    per_block = 256 + 2080 + 2112 + 16640 + 16448
    assert flops.count_params(model) == 3136 + 4 * per_block + 128 + 650 == 154_058
    x = torch.randn(16, 3, 32, 32, generator=generator(12))
    y = torch.arange(16) % 10
    losses = train_losses(model, x, y, 20, torch.optim.AdamW(model.parameters(), lr=3e-3))
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])


# ------------------------------------------------------------------------------ bad input
def test_bad_input_messages():
    model = models.create("mixer_tiny_patch4_32")
    raises(ValueError, model, torch.zeros(1, 3, 28, 28), must=("PatchEmbed.forward", "(B, 3, 32, 32)", "(1, 3, 28, 28)"))
    raises(ValueError, model.blocks[0], torch.zeros(1, 49, 64),
           must=("MixerBlock.forward", "'x'", "(B, 64, 64)", "(1, 49, 64)"))
    raises(ValueError, model.forward_intermediates, torch.zeros(1, 3, 32, 32), indices=[7],
           must=("MlpMixer.forward_intermediates", "'indices'", "7"))
    raises(ValueError, model.forward_intermediates, torch.zeros(1, 3, 32, 32), output_fmt="NHWC", must=("'output_fmt'",))
    raises(ValueError, MixerConfig, img_size=30, patch_size=4, must=("MixerConfig", "img_size=30"))
    raises(TypeError, MixerConfig, mlp_ratio=4.0, must=("MixerConfig", "'mlp_ratio'", "pair"))
    raises(ValueError, MixerConfig, embed_dim=4, mlp_ratio=(0.1, 4), must=("'mlp_ratio'", "int(0.1 * 4) = 0"))
    raises(TypeError, MlpMixer, {"embed_dim": 8}, must=("MlpMixer", "MixerConfig"))
    raises(ValueError, MixerBlock, 0, 4, 2, 8, must=("MixerBlock", "'dim'"))
    raises(TypeError, models.create, "mixer_b16_224", depth=3, must=("mixer_b16_224", "MixerConfig", "num_blocks"))
