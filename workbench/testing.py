"""Tiny, randomly initialised VLMs built offline, for tests, CI notebooks and benchmarks.

They load through the same code as real checkpoints (AutoProcessor + AutoModelForImageTextToText), so every
code path runs without downloading weights. Their answers are noise: assert shapes and plumbing, not words.

    python -m workbench.testing build-llava DIR      # LLaVA: CLIP vision + Llama text
    python -m workbench.testing build-idefics3 DIR   # Idefics3, the SmolVLM architecture
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

# Words a test may score as labels: each becomes one token of the tiny tokenizer.
LABEL_WORDS = ["0", "1", "2", "3", "4", "5", "Yes", "No", "yes", "no", "true", "false", "minor", "moderate",
               "severe", "none", "safe", "unsafe"]
_CORPUS = ["Is this image safe or unsafe? Rate how well the image matches the tag from 0 to 5.",
           "Does the image contain personal data such as a name, email, phone number or address?",
           'Answer with JSON only: {"severity": "minor", "reason": "small crack", "score": 3, "flagged": false}',
           "pothole severity minor moderate severe none. User: Assistant: explanation contains_pii found kind"]


def _tokenizer(specials: list[str], eos: str, extra: dict | None = None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(_CORPUS * 20, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token=eos,
                                  **(extra or {}))
    tok.add_tokens(LABEL_WORDS)
    return tok


def build_tiny_llava(out: str | Path, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    out = Path(out)
    torch.manual_seed(seed)
    tok = _tokenizer(["<pad>", "<s>", "</s>", "<image>", "<|user|>", "<|assistant|>", "<|end|>"], "</s>",
                     {"extra_special_tokens": {"image_token": "<image>"}})
    template = ("{% for m in messages %}<|{{ m['role'] }}|>{% if m['content'] is string %}{{ m['content'] }}"
                "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
                "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|end|>\n"
                "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tok, patch_size=8, chat_template=template, vision_feature_select_strategy="default",
        num_additional_image_tokens=1)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=2, image_size=32, patch_size=8),
        text_config=LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                                eos_token_id=tok.eos_token_id),
        image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=16, vision_feature_layer=-1,
        vision_feature_select_strategy="default")
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def build_tiny_idefics3(out: str | Path, seed: int = 0, declare_smolvlm: bool = False) -> Path:
    """`declare_smolvlm=True` saves it the way SmolVLM checkpoints declare themselves (SmolVLMProcessor)."""
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor, LlamaConfig
    from transformers.models.idefics3.configuration_idefics3 import Idefics3VisionConfig
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    out = Path(out)
    torch.manual_seed(seed)
    grid = [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    tok = _tokenizer(["<pad>", "<s>", "</s>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>",
                      "<image>", "<global-img>", *grid], "<end_of_utterance>")
    template = ("<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:{% if m['content'] is string %}"
                "{{ m['content'] }}{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
                "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
                "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}")
    image_processor = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": 64},
                                                max_image_size={"longest_edge": 32})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tok, image_seq_len=4,
                                  chat_template=template)
    config = Idefics3Config(
        vision_config=Idefics3VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=2, image_size=32, patch_size=8),
        text_config=LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, pad_token_id=tok.pad_token_id,
                                eos_token_id=tok.eos_token_id),
        scale_factor=2, image_token_id=tok.convert_tokens_to_ids("<image>"))
    model = Idefics3ForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    if declare_smolvlm:
        _declare_processor(out, "SmolVLMProcessor")
    return out


def _declare_processor(folder: Path, processor_class: str) -> None:
    """Rewrite the saved configs to name SmolVLM's classes, as the real SmolVLM checkpoints do."""
    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        path = folder / name
        if path.exists():
            data = json.loads(path.read_text())
            data["processor_class"] = processor_class
            if isinstance(data.get("image_processor"), dict):
                data["image_processor"]["image_processor_type"] = "SmolVLMImageProcessor"
            path.write_text(json.dumps(data, indent=2))


_BUILDERS = {"build-llava": build_tiny_llava, "build-idefics3": build_tiny_idefics3}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in _BUILDERS:
        sys.exit(f"usage: python -m workbench.testing {{{'|'.join(_BUILDERS)}}} DIR")
    print(_BUILDERS[sys.argv[1]](sys.argv[2]))


def pipeline_answers(spec, images: list, prompt: str, *, batch_size: int, max_tokens: int) -> list[str]:
    """What transformers' own image-text-to-text pipeline answers (greedy) for `spec`'s model, on the model and
    processor the local backend loaded: the reference that a local batch must match, in answers and in speed
    (tests, bench/local_inference.py). `images`: PIL images."""
    from transformers import pipeline

    from .backends.transformers_local import load_model

    loaded = load_model(spec)
    pipe = pipeline("image-text-to-text", model=loaded.model, processor=loaded.processor, device=loaded.device)
    chats = [[{"role": "user", "content": [{"type": "image", "image": im}, {"type": "text", "text": prompt}]}]
             for im in images]
    out = pipe(text=chats, batch_size=batch_size, max_new_tokens=max_tokens, return_full_text=False,
               generate_kwargs={"do_sample": False})
    return [answer[0]["generated_text"] for answer in out]
