"""Instruction-aware queries and the token norm of the Dynamic Query Transformer."""

from __future__ import annotations

import pytest
import torch

from edtformer.bridge import bridge_preset, build_connector
from edtformer.errors import EdtError, InvalidShapeError


def _inputs(b: int = 2, n: int = 5):
    torch.manual_seed(0)
    feats = [torch.randn(b, n, 16)]
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[1, 3:] = False
    patches = torch.tensor([[0, 0, 1, 1, 2], [0, 1, 1, -1, -1]])
    return feats, mask, patches


def _conn(**kw):
    torch.manual_seed(0)
    cfg = bridge_preset("tiny", encoder_widths=(16,), llm_width=8, **kw)
    return build_connector(cfg).eval()


def test_tokens_depend_on_the_question_only_when_instruction_aware() -> None:
    feats, mask, patches = _inputs()
    q1, q2 = torch.randn(2, 4, 8), torch.randn(2, 4, 8)
    qmask = torch.ones(2, 4, dtype=torch.bool)
    conn = _conn(instruction_aware=True)
    a = conn(feats, mask, patches, instruction=q1, instruction_mask=qmask).tokens
    b = conn(feats, mask, patches, instruction=q2, instruction_mask=qmask).tokens
    assert not torch.allclose(a, b)
    # padding of the question changes nothing
    q1_pad = torch.cat([q1, torch.randn(2, 3, 8)], dim=1)
    pad_mask = torch.cat([qmask, torch.zeros(2, 3, dtype=torch.bool)], dim=1)
    c = conn(feats, mask, patches, instruction=q1_pad, instruction_mask=pad_mask).tokens
    assert torch.allclose(a, c, atol=1e-6)
    with pytest.raises(InvalidShapeError, match="instruction"):
        conn(feats, mask, patches)


def test_token_norm_rescales_real_tokens_and_keeps_padding_zero() -> None:
    feats, mask, patches = _inputs()
    out = _conn(token_norm=3.2)(feats, mask, patches)
    norms = out.tokens.norm(dim=-1)  # [B, Q]
    assert torch.allclose(norms[out.mask], torch.full_like(norms[out.mask], 3.2), atol=1e-4)
    assert norms[~out.mask].abs().max() == 0


def test_instruction_aware_needs_a_query_transformer() -> None:
    with pytest.raises(EdtError, match="instruction_aware"):
        bridge_preset("tiny", connector="mlp", instruction_aware=True)
    with pytest.raises(EdtError, match="token_norm"):
        bridge_preset("tiny", token_norm=-1.0)
