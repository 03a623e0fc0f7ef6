"""Tiny models with random weights, built from configs and saved like real ones, for tests.

They go through the same ``from_pretrained(folder)`` code as real models. Their output is nonsense:
tests assert mechanics (order, batching, one result per input), never wording.
"""

from __future__ import annotations

import os

BLIP_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "dog", "on", "grass", "the", "red", "door", "of", "photography", "picture"]


def tiny_blip(folder: str) -> str:
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor
    from transformers.models.blip.image_processing_blip import BlipImageProcessor

    os.makedirs(folder, exist_ok=True)
    vocab = os.path.join(folder, "vocab.txt")
    with open(vocab, "w", encoding="utf-8") as f:
        f.write("\n".join(BLIP_VOCAB))
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=BertTokenizer(vocab))
    config = BlipConfig(
        text_config={
            "vocab_size": len(BLIP_VOCAB), "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 37, "max_position_embeddings": 64, "bos_token_id": 2, "sep_token_id": 3, "pad_token_id": 0,
        },
        vision_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    os.remove(vocab)  # the saved tokenizer files carry it
    return folder


def tiny_qwen3(folder: str, tokenizer_dir: str) -> str:
    """Qwen3's architecture, shrunk, with the real Qwen3 tokenizer and chat template."""
    import json

    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    with open(os.path.join(tokenizer_dir, "config.json"), encoding="utf-8") as f:
        real = json.load(f)
    config = Qwen3Config(
        vocab_size=real["vocab_size"], hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=4096,
        bos_token_id=real["bos_token_id"], eos_token_id=real["eos_token_id"], tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    Qwen3ForCausalLM(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
    return folder
