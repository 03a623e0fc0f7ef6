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
