"""A character tokenizer: one token per character of a fixed alphabet, plus padding.

Arithmetic tasks are written as text ("$128+367=495$") and read one character at a
time, as in "Teaching Arithmetic to Small Transformers" (Lee et al.), which trains
NanoGPT on character tokens. Token 0 is the padding token; it never appears in a
task's text and its targets are ignored by the loss.
"""

from __future__ import annotations

import numpy as np

PAD = "\0"


class CharTokenizer:
    """Maps each character of ``alphabet`` to an id (1, 2, ...); id 0 is padding."""

    def __init__(self, alphabet: str):
        if len(set(alphabet)) != len(alphabet):
            raise ValueError(f"CharTokenizer: alphabet {alphabet!r} repeats a character")
        if PAD in alphabet:
            raise ValueError("CharTokenizer: the alphabet may not contain NUL (the padding)")
        self.alphabet = alphabet
        self.chars = PAD + alphabet
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.pad_id = 0

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """text -> (len(text),) int64 ids; an unknown character is an error that names it."""
        try:
            return np.array([self.index[c] for c in text], dtype=np.int64)
        except KeyError as err:
            raise ValueError(f"CharTokenizer: character {err.args[0]!r} in {text!r} is not in the "
                             f"alphabet {self.alphabet!r}") from None

    def decode(self, ids) -> str:
        """ids -> text; padding ids are dropped."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1) if int(i) != 0)

    def encode_batch(self, texts, length: int | None = None) -> np.ndarray:
        """A list of strings -> (B, length) ids, right-padded with 0 (length defaults to the
        longest text)."""
        width = max(len(t) for t in texts) if length is None else length
        out = np.zeros((len(texts), width), dtype=np.int64)  # (B, T)
        for row, text in enumerate(texts):
            if len(text) > width:
                raise ValueError(f"CharTokenizer: {text!r} is longer than length={width}")
            out[row, :len(text)] = self.encode(text)
        return out
