"""Byte-level BPE: train merges on a corpus, encode text, write a Hugging Face tokenizer.json.

The pre-tokenizer is the GPT-2 regex of the `ByteLevel` pre-tokenizer (with `use_regex: true`),
so the Hugging Face `tokenizers` library and `@huggingface/tokenizers` split text the same way
this module does. Token ids 0..255 are the single bytes in byte order, then one id per merge in
merge order, then the special tokens.
"""

import heapq
import json
from collections import Counter, defaultdict

import regex

# GPT-2 pre-tokenizer pattern, as used by the ByteLevel pre-tokenizer.
PRETOKENIZE_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def bytes_to_unicode():
    """Return GPT-2's map from each byte to a printable unicode character.

    Printable Latin-1 bytes map to themselves. The other 68 bytes map to code points 256 and up,
    in byte order, so that no token string contains whitespace or control characters.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    code_points = {b: b for b in printable}
    next_code_point = 256
    for b in range(256):
        if b not in code_points:
            code_points[b] = next_code_point
            next_code_point += 1
    return {b: chr(code_points[b]) for b in range(256)}


BYTE_TO_UNICODE = bytes_to_unicode()


def pretokenize(text):
    return PRETOKENIZE_PATTERN.findall(text)


def train_merges(texts, num_merges):
    """Learn up to `num_merges` merges from an iterable of texts.

    Returns a list of (left_id, right_id) pairs, where merge k creates token id 256 + k. Ties between
    equally frequent pairs go to the smallest (left_id, right_id), so the result is deterministic.
    """
    word_counts = Counter()
    for text in texts:
        word_counts.update(pretokenize(text))

    words = [list(word.encode("utf-8")) for word in word_counts]
    freqs = list(word_counts.values())

    # Pair counts over all words, and for each pair the words that contain it.
    pair_counts = defaultdict(int)
    pair_words = defaultdict(set)
    for index, (symbols, freq) in enumerate(zip(words, freqs)):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += freq
            pair_words[pair].add(index)

    # Max-heap of (-count, pair). Entries go stale when a count changes and are skipped on pop.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    while len(merges) < num_merges and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative_count or negative_count == 0:
            continue
        new_id = 256 + len(merges)
        merges.append(pair)

        changed_pairs = set()
        for index in list(pair_words[pair]):
            symbols, freq = words[index], freqs[index]
            for old_pair in zip(symbols, symbols[1:]):
                pair_counts[old_pair] -= freq
                pair_words[old_pair].discard(index)
                changed_pairs.add(old_pair)
            merged = merge_symbols(symbols, pair, new_id)
            words[index] = merged
            for new_pair in zip(merged, merged[1:]):
                pair_counts[new_pair] += freq
                pair_words[new_pair].add(index)
                changed_pairs.add(new_pair)

        for changed in changed_pairs:
            count = pair_counts[changed]
            if count > 0:
                heapq.heappush(heap, (-count, changed))
            else:
                pair_counts.pop(changed, None)
                pair_words.pop(changed, None)
    return merges


def merge_symbols(symbols, pair, new_id):
    """Replace each non-overlapping occurrence of `pair`, scanning left to right, with `new_id`."""
    merged = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return merged


class Encoder:
    """Encodes text with trained merges the way a Hugging Face BPE model does: in each word,
    repeatedly merge the adjacent pair with the lowest merge rank."""

    def __init__(self, merges):
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.cache = {}

    def encode_word(self, word):
        cached = self.cache.get(word)
        if cached is not None:
            return cached
        symbols = list(word.encode("utf-8"))
        while len(symbols) > 1:
            ranked = [
                (self.ranks[p], p) for p in zip(symbols, symbols[1:]) if p in self.ranks
            ]
            if not ranked:
                break
            rank, pair = min(ranked)
            symbols = merge_symbols(symbols, pair, 256 + rank)
        self.cache[word] = symbols
        return symbols

    def encode(self, text):
        ids = []
        for word in pretokenize(text):
            ids.extend(self.encode_word(word))
        return ids


def token_strings(merges):
    """Return the byte-level unicode string of every non-special token id."""
    strings = [BYTE_TO_UNICODE[b] for b in range(256)]
    for left, right in merges:
        strings.append(strings[left] + strings[right])
    return strings


def tokenizer_json(merges, special_tokens):
    """Build a tokenizer.json document. `special_tokens` maps token text to id, and those ids
    must come after the BPE vocabulary."""
    strings = token_strings(merges)
    vocab = {s: i for i, s in enumerate(strings)}
    if len(vocab) != len(strings):
        raise ValueError("two merges produced the same token string; the merge list is invalid")

    added_tokens = [
        {
            "id": token_id,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for content, token_id in sorted(special_tokens.items(), key=lambda item: item[1])
    ]
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", **byte_level},
        "post_processor": {"type": "ByteLevel", **byte_level},
        "decoder": {"type": "ByteLevel", **byte_level},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": vocab,
            "merges": [f"{strings[a]} {strings[b]}" for a, b in merges],
        },
    }


def save_merges(path, merges):
    with open(path, "w") as f:
        json.dump(merges, f)


def load_merges(path):
    with open(path) as f:
        return [tuple(pair) for pair in json.load(f)]
