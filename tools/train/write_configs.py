"""Write config.json, generation_config.json and tokenizer_config.json into the model folder.

The files follow the layout of the SDAR checkpoints on Hugging Face (model_type "sdar"), so the
engine loads this folder the same way as a downloaded SDAR model.
"""

import argparse
import json
import os
from dataclasses import asdict

from model import ModelConfig
from prepare_data import SPECIAL_TOKENS

MAX_POSITION_EMBEDDINGS = 1024

# ChatML without a default system message: each turn is
# <|im_start|>{role}\n{content}<|im_end|>\n, then the assistant header when generating.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def model_config():
    config = ModelConfig()
    fields = asdict(config)
    return {
        "architectures": ["SDARForCausalLM"],
        "model_type": "sdar",
        "hidden_size": fields["hidden_size"],
        "intermediate_size": fields["intermediate_size"],
        "num_hidden_layers": fields["num_hidden_layers"],
        "num_attention_heads": fields["num_attention_heads"],
        "num_key_value_heads": fields["num_key_value_heads"],
        "head_dim": fields["head_dim"],
        "hidden_act": "silu",
        "rms_norm_eps": fields["rms_norm_eps"],
        "rope_theta": fields["rope_theta"],
        "rope_scaling": None,
        "max_position_embeddings": MAX_POSITION_EMBEDDINGS,
        "tie_word_embeddings": True,
        "vocab_size": fields["vocab_size"],
        "block_size": fields["block_size"],
        "mask_token_id": SPECIAL_TOKENS["<|MASK|>"],
        "bos_token_id": None,
        "eos_token_id": SPECIAL_TOKENS["<|endoftext|>"],
        "pad_token_id": SPECIAL_TOKENS["<|endoftext|>"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "use_cache": True,
        "torch_dtype": "bfloat16",
    }


def generation_config():
    return {
        "eos_token_id": [SPECIAL_TOKENS["<|im_end|>"], SPECIAL_TOKENS["<|endoftext|>"]],
        "pad_token_id": SPECIAL_TOKENS["<|endoftext|>"],
        "do_sample": False,
    }


def tokenizer_config():
    added = {
        str(token_id): {
            "content": content,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for content, token_id in SPECIAL_TOKENS.items()
    }
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "bos_token": None,
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "mask_token": "<|MASK|>",
        "unk_token": None,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "added_tokens_decoder": added,
        "clean_up_tokenization_spaces": False,
        "model_max_length": MAX_POSITION_EMBEDDINGS,
        "chat_template": CHAT_TEMPLATE,
    }


def main():
    script_dir = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", default=os.path.join(script_dir, "../../models/sdar-micro"))
    args = parser.parse_args()
    os.makedirs(args.model_dir, exist_ok=True)
    for name, content in [
        ("config.json", model_config()),
        ("generation_config.json", generation_config()),
        ("tokenizer_config.json", tokenizer_config()),
    ]:
        with open(os.path.join(args.model_dir, name), "w") as f:
            json.dump(content, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
