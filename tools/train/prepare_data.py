"""Build the corpus, train the BPE tokenizer and write the token streams for train.py.

Corpus: Jane Austen's six novels from the Debian package r-cran-janeaustenr (the texts are
public domain, and the package is MIT-licensed). The package stores them as R data, so they
are exported with Rscript first.

Outputs, in --data-dir: train.u16 and heldout.u16 (token ids, uint16), unigram.npy (training
token counts), merges.json, stats.json. In --model-dir: tokenizer.json.
"""

import argparse
import json
import os
import random
import re
import subprocess

import numpy as np

import bpe

BOOKS = [
    "sensesensibility",
    "prideprejudice",
    "mansfieldpark",
    "emma",
    "northangerabbey",
    "persuasion",
]

VOCAB_SIZE = 4096
# The special tokens take the last ids, and the BPE vocabulary (bytes + merges) the rest.
SPECIAL_TOKENS = {
    "<|endoftext|>": VOCAB_SIZE - 4,
    "<|im_start|>": VOCAB_SIZE - 3,
    "<|im_end|>": VOCAB_SIZE - 2,
    "<|MASK|>": VOCAB_SIZE - 1,
}
HELDOUT_FRACTION = 0.02
# One chat-formatted example is made from every CHAT_EVERY-th eligible training paragraph.
CHAT_EVERY = 3
SEED = 1234

CHAPTER_HEADING = re.compile(r"^(chapter|volume)\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?])[\"']?\s+(?=[\"']?[A-Z])")


def export_books(raw_dir):
    """Write each novel as plain text with Rscript (package r-cran-janeaustenr)."""
    os.makedirs(raw_dir, exist_ok=True)
    names = ", ".join(f'"{name}"' for name in BOOKS)
    script = (
        "library(janeaustenr); "
        f"for (n in c({names})) "
        f'writeLines(get(n), file.path("{raw_dir}", paste0(n, ".txt")), useBytes = TRUE)'
    )
    try:
        subprocess.run(["Rscript", "-e", script], check=True)
    except FileNotFoundError:
        raise SystemExit(
            "Rscript not found: install the corpus with `apt-get install -y r-cran-janeaustenr`"
        )


def read_paragraphs(path):
    """Split a book into paragraphs at blank lines, joining wrapped lines with single spaces."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        paragraph = " ".join(block.split())
        if paragraph:
            paragraphs.append(paragraph)
    return paragraphs


def split_chapters(paragraphs):
    """Group paragraphs into documents that each start at a chapter or volume heading."""
    documents = [[]]
    for paragraph in paragraphs:
        if CHAPTER_HEADING.match(paragraph) and any(
            not CHAPTER_HEADING.match(p) for p in documents[-1]
        ):
            documents.append([])
        documents[-1].append(paragraph)
    return ["\n\n".join(doc) for doc in documents if doc]


def chat_example(paragraph):
    """Turn a paragraph into (user, assistant) text: its first sentence, then the rest.

    Returns None when the paragraph has a single sentence or is very short or long.
    """
    if not 150 <= len(paragraph) <= 900:
        return None
    match = SENTENCE_END.search(paragraph)
    if match is None:
        return None
    first, rest = paragraph[: match.start()].rstrip(), paragraph[match.start() :].strip()
    if len(first) < 20 or len(rest) < 40:
        return None
    return first, rest


def chat_text(user, assistant):
    """Render one exchange with the ChatML template of tokenizer_config.json."""
    return (
        f"<|im_start|>user\n{user}<|im_end|>\n"
        f"<|im_start|>assistant\n{assistant}<|im_end|>\n"
    )


def encode_with_specials(encoder, text):
    """Encode text that may contain special-token strings, which map straight to their ids."""
    pattern = "(" + "|".join(re.escape(token) for token in SPECIAL_TOKENS) + ")"
    ids = []
    for piece in re.split(pattern, text):
        if piece in SPECIAL_TOKENS:
            ids.append(SPECIAL_TOKENS[piece])
        elif piece:
            ids.extend(encoder.encode(piece))
    return ids


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    script_dir = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--data-dir", default=os.path.join(script_dir, "data"))
    parser.add_argument("--model-dir", default=os.path.join(script_dir, "../../models/sdar-micro"))
    args = parser.parse_args()

    raw_dir = os.path.join(args.data_dir, "raw")
    export_books(raw_dir)

    train_docs, heldout_docs, chat_docs = [], [], []
    eligible = 0
    for name in BOOKS:
        paragraphs = read_paragraphs(os.path.join(raw_dir, name + ".txt"))
        cut = len(paragraphs) - max(1, round(len(paragraphs) * HELDOUT_FRACTION))
        train_docs.extend(split_chapters(paragraphs[:cut]))
        heldout_docs.append("\n\n".join(paragraphs[cut:]))
        for paragraph in paragraphs[:cut]:
            example = chat_example(paragraph)
            if example is None:
                continue
            if eligible % CHAT_EVERY == 0:
                chat_docs.append(chat_text(*example))
            eligible += 1

    print(f"train: {len(train_docs)} chapters, {len(chat_docs)} chat examples; "
          f"held out: {len(heldout_docs)} book endings")

    num_merges = VOCAB_SIZE - len(SPECIAL_TOKENS) - 256
    merges = bpe.train_merges(train_docs, num_merges)
    print(f"learned {len(merges)} merges")
    os.makedirs(args.data_dir, exist_ok=True)
    bpe.save_merges(os.path.join(args.data_dir, "merges.json"), merges)
    os.makedirs(args.model_dir, exist_ok=True)
    with open(os.path.join(args.model_dir, "tokenizer.json"), "w") as f:
        json.dump(bpe.tokenizer_json(merges, SPECIAL_TOKENS), f, ensure_ascii=False)

    encoder = bpe.Encoder(merges)
    eos = SPECIAL_TOKENS["<|endoftext|>"]

    # Chapters and chat examples in a seeded shuffle, each followed by <|endoftext|>.
    documents = train_docs + chat_docs
    random.Random(SEED).shuffle(documents)
    train_ids = []
    for doc in documents:
        train_ids.extend(encode_with_specials(encoder, doc))
        train_ids.append(eos)
    heldout_ids = []
    for doc in heldout_docs:
        heldout_ids.extend(encoder.encode(doc))
        heldout_ids.append(eos)

    train_array = np.array(train_ids, dtype=np.uint16)
    train_array.tofile(os.path.join(args.data_dir, "train.u16"))
    np.array(heldout_ids, dtype=np.uint16).tofile(os.path.join(args.data_dir, "heldout.u16"))
    counts = np.bincount(train_array, minlength=VOCAB_SIZE)
    np.save(os.path.join(args.data_dir, "unigram.npy"), counts)

    chat_tokens = sum(len(encode_with_specials(encoder, d)) + 1 for d in chat_docs)
    stats = {
        "train_tokens": len(train_ids),
        "heldout_tokens": len(heldout_ids),
        "chat_tokens": chat_tokens,
        "train_chars": sum(len(d) for d in train_docs),
        "heldout_chars": sum(len(d) for d in heldout_docs),
        "chapters": len(train_docs),
        "chat_examples": len(chat_docs),
    }
    with open(os.path.join(args.data_dir, "stats.json"), "w") as f:
        json.dump(stats, f, indent=2)
    print(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
