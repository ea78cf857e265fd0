"""Tiny random script-analysis models (entities + mood) for tests, and ways to steer them.

`build_tiny_analysis` saves what `ScriptAnalyser.load` reads: `entities/` (BERT token
classification, CoNLL BIO labels) and `mood/` (BERT sequence classification over the moods), each
with an uncased WordPiece tokenizer whose vocabulary holds the given words, plus a model card
(`license: mit`). Random weights predict random labels; `steer_entities` and `steer_mood` rewrite
the weights so that the real inference path gives known answers.
"""

from __future__ import annotations

import math
import string
from pathlib import Path
from typing import get_args

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertTokenizerFast,
    PreTrainedModel,
)

from domain.storyboard import Mood

ENTITY_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
MOODS: list[str] = list(get_args(Mood))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HIDDEN = 32


def _vocab(words: list[str]) -> list[str]:
    """Specials, punctuation, letters and digits (whole and as `##` pieces), then the words."""
    chars = string.ascii_lowercase + string.digits
    pieces = [*string.punctuation, *chars, *(f"##{c}" for c in chars)]
    return list(dict.fromkeys([*SPECIALS, *pieces, *(w.lower() for w in words)]))


def _tokenizer(directory: Path, words: list[str]) -> BertTokenizerFast:
    """A WordPiece tokenizer from a written vocab.txt (passed as `vocab=`: transformers 5 ignores
    `vocab_file=`), checked to keep every given word whole."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab = _vocab(words)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    tokenizer.model_max_length = 128
    for word in words:
        assert tokenizer.tokenize(word) == [word.lower()], (word, tokenizer.tokenize(word))
    return tokenizer


def _config(vocab_size: int, labels: list[str]) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )


def build_tiny_analysis(
    directory: Path,
    words: list[str],
    entity_labels: list[str] | None = None,
    moods: list[str] | None = None,
    seed: int = 0,
) -> Path:
    """Save tiny random `entities/` and `mood/` models (and a MIT card) under `directory`."""
    torch.manual_seed(seed)
    for name, model_class, labels in (
        ("entities", BertForTokenClassification, entity_labels or ENTITY_LABELS),
        ("mood", BertForSequenceClassification, moods or MOODS),
    ):
        tokenizer = _tokenizer(directory / name, words)
        model = model_class(_config(len(tokenizer), labels))
        model.save_pretrained(directory / name)
        tokenizer.save_pretrained(directory / name)
        reloaded = BertTokenizerFast.from_pretrained(directory / name, local_files_only=True)
        for word in words:
            assert reloaded.tokenize(word) == [word.lower()], word
    card = "---\nlicense: mit\nlanguage: en\n---\n# Tiny random script-analysis models (tests)\n"
    (directory / "README.md").write_text(card, encoding="utf-8")
    return directory


@torch.no_grad()
def steer_entities(directory: Path, word_labels: dict[str, str]) -> None:
    """Make `entities/` label each given word (a whole vocabulary token) with its label, every
    other token `O`, whatever the context.

    The encoder is made to pass each token's embedding through unchanged (zeroed attention and
    feed-forward outputs, zeroed position and type embeddings), every other embedding is zeroed,
    a steered word's embedding points along its label's own axis, and the classifier reads that
    axis; `O` wins through its bias alone.
    """
    path = directory / "entities"
    tokenizer = BertTokenizerFast.from_pretrained(path, local_files_only=True)
    model = BertForTokenClassification.from_pretrained(path, local_files_only=True)
    label2id = model.config.label2id
    _pass_through(model)
    embeddings = model.bert.embeddings
    embeddings.word_embeddings.weight.zero_()
    for word, label in word_labels.items():
        (token,) = tokenizer.convert_tokens_to_ids([word.lower()])
        assert token != tokenizer.unk_token_id, word
        embeddings.word_embeddings.weight[token, label2id[label]] = 1.0
    classifier = model.classifier
    classifier.weight.copy_(torch.eye(len(label2id), HIDDEN))
    classifier.bias.zero_()
    classifier.bias[label2id["O"]] = 1.0
    model.save_pretrained(path)


@torch.no_grad()
def steer_mood(directory: Path, mood: str | None, probability: float = 0.9) -> None:
    """Make `mood/` give every text `mood` with `probability` (None: all labels equally likely)."""
    path = directory / "mood"
    model = BertForSequenceClassification.from_pretrained(path, local_files_only=True)
    labels = model.config.num_labels
    model.classifier.weight.zero_()
    model.classifier.bias.zero_()
    if mood is not None:
        model.classifier.bias[model.config.label2id[mood]] = math.log(
            probability * (labels - 1) / (1 - probability)
        )
    model.save_pretrained(path)


def _pass_through(model: PreTrainedModel) -> None:
    """Every layer adds nothing to its input: the output is the layer-normed embedding."""
    bert = model.bert
    bert.embeddings.position_embeddings.weight.zero_()
    bert.embeddings.token_type_embeddings.weight.zero_()
    for layer in bert.encoder.layer:
        for dense in (layer.attention.output.dense, layer.output.dense):
            dense.weight.zero_()
            dense.bias.zero_()
