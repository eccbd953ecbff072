"""Official laion-clap checkpoint path: a random HTSAT + RoBERTa model saved in the official layout loads back.

HTSAT-base takes ~45 s just to build on this CPU, so the test uses HTSAT-tiny with a 1-layer RoBERTa (the
768-wide shape laion-clap hard-codes) from a local folder; the loader and layout handling are the same.
"""
import json
from pathlib import Path

import pytest
import torch

from data_prep.clap.config import ClapConfig
from data_prep.clap.laion import build_official, save_official_layout
from data_prep.clap.tokenizer import ConditionTokenizer
from data_prep.errors import DataError


def _roberta_folder(root: Path) -> Path:
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    root.mkdir()
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for ch in sorted({bytes_to_unicode()[b] for b in b"abcdefghijklmnopqrstuvwxyz "}):
        vocab[ch] = len(vocab)
    vocab["<mask>"] = len(vocab)
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "merges.txt").write_text("#version: 0.2\n")
    (root / "config.json").write_text(json.dumps({
        "vocab_size": len(vocab), "hidden_size": 768, "num_hidden_layers": 1, "num_attention_heads": 12,
        "intermediate_size": 64, "max_position_embeddings": 80}))
    return root


def test_official_layout_loads_and_embeds(tmp_path):
    folder = _roberta_folder(tmp_path / "roberta")
    torch.manual_seed(0)
    model = build_official("HTSAT-tiny", "roberta", str(folder))
    ckpt = tmp_path / "music_official.pt"
    save_official_layout(model, ckpt, epoch=15)
    blob = torch.load(ckpt, weights_only=True)
    assert set(blob) == {"epoch", "state_dict"} and all(k.startswith("module.") for k in blob["state_dict"])
    blob["state_dict"]["module.text_branch.embeddings.position_ids"] = torch.arange(80)[None]
    torch.save(blob, ckpt)

    cfg = ClapConfig(pretrained=str(ckpt), audio_model="HTSAT-tiny", text_model="roberta", tokenizer_path=str(folder),
                     window_seconds=10.0, hop_seconds=1.0)
    tok = ConditionTokenizer.official(cfg)
    loaded = tok.model.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded[key], value), key
    text = tok.embed_text(["a slow piano piece", "fast drums"])
    assert text.shape == (2, 512) and torch.allclose(text.norm(dim=1), torch.ones(2), atol=1e-5)
    audio = tok.embed_audio(0.1 * torch.randn(24000 * 2), 24000)
    assert audio.shape == (1, 512) and torch.isfinite(audio).all()

    tok.save(tmp_path / "clap.pt")
    assert "state_dict" not in torch.load(tmp_path / "clap.pt", weights_only=True)


def test_missing_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        ConditionTokenizer.official(ClapConfig(pretrained=str(tmp_path / "nope.pt"), text_model="roberta"))
