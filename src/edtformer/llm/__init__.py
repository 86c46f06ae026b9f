"""The frozen causal LLM side: loading (with the GGUF default converted once), molecule special
tokens, chat prompts from the tokenizer's template, the ``<mol>`` merge, prefix KV reuse,
generation and single-forward answer scoring.
"""

from edtformer.llm.generation import ChoiceScores, choice_token_ids, generate_from_embeds
from edtformer.llm.loading import DEFAULT_LLM, cache_root, convert_gguf, default_llm_dir, load_llm
from edtformer.llm.prefix import PrefixCache, PrefixCacheSlot
from edtformer.llm.prompt import IGNORE_INDEX, PromptBuilder, PromptSample, pad_samples
from edtformer.llm.tokens import (
    MOL_TOKEN,
    MoleculeTokenCountError,
    MolTokenIds,
    NewTokenEmbedding,
    add_molecule_tokens,
    merge_molecule_tokens,
)
from edtformer.llm.trainable import LoraSettings, ParameterCounts, TrainableConfig, count_parameters

__all__ = [
    "DEFAULT_LLM",
    "IGNORE_INDEX",
    "MOL_TOKEN",
    "ChoiceScores",
    "LoraSettings",
    "MolTokenIds",
    "MoleculeTokenCountError",
    "NewTokenEmbedding",
    "ParameterCounts",
    "PrefixCache",
    "PrefixCacheSlot",
    "PromptBuilder",
    "PromptSample",
    "TrainableConfig",
    "add_molecule_tokens",
    "cache_root",
    "choice_token_ids",
    "convert_gguf",
    "count_parameters",
    "default_llm_dir",
    "generate_from_embeds",
    "load_llm",
    "merge_molecule_tokens",
    "pad_samples",
]
