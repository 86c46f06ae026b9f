"""Stage 1: pretrain the bridge against text with the graph encoder frozen (no LLM).

Three BLIP-2 objectives on the bridge's query states (:attr:`BridgeOutput.query_states`):

- **graph-text contrastive (ITC)**: similarity of a molecule and a text = the max over the
  molecule's *real* query slots (padded slots never enter the max) of the cosine between the
  projected query and the text CLS; symmetric InfoNCE with a learned temperature, over the
  texts and molecules of *every* rank (features gathered with gradients). Identical texts in a
  batch are all counted as positives.
- **graph-text matching (ITM)**: a binary head on the text CLS after cross-attending to the
  queries; each molecule gets a hard negative text and each text a hard negative molecule,
  sampled in-batch from the contrastive similarities.
- **query-conditioned text generation (LM)**: the text tower in causal mode cross-attends to
  the queries and predicts the text token by token.

Only the connector is kept after stage 1; the text tower is discarded.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edtformer.chem import parse_smiles
from edtformer.model.processing import MoleculeBatch
from edtformer.training.text_tower import TextTower

logger = logging.getLogger(__name__)


@dataclass
class Stage1Batch:
    """A batch of ``B`` graph-text pairs.

    Attributes:
        mol: the molecules' bridge inputs.
        text_ids: int64 ``[B, T]`` text token ids (padding arbitrary where ``text_mask`` is False).
        text_mask: bool ``[B, T]``.
        text_key: int64 ``[B]``; equal for identical texts (a CRC32 of the string).
    """

    mol: MoleculeBatch
    text_ids: Tensor
    text_mask: Tensor
    text_key: Tensor


def text_key(texts: Sequence[str]) -> Tensor:
    """Stable int64 key per text (equal texts -> equal keys), ``[B]``."""
    return torch.tensor([zlib.crc32(t.encode("utf-8")) for t in texts], dtype=torch.long)


def masked_max_similarity(queries: Tensor, query_mask: Tensor, texts: Tensor) -> Tensor:
    """Similarity of every molecule with every text: max over real query slots.

    Shapes:
        - queries: ``[M, Q, E]`` (unit vectors); query_mask: bool ``[M, Q]``; texts: ``[T, E]``
        - output: ``[M, T]``
    """
    sim = torch.einsum("mqe,te->mqt", queries, texts)  # [M, Q, T]
    sim = sim.masked_fill(~query_mask.unsqueeze(-1), float("-inf"))
    return sim.max(dim=1).values


class Stage1Model(nn.Module):
    """Connector + stage-1 text tower and heads. ``forward(batch)`` returns the three losses.

    Args:
        connector: a bridge connector (its ``query_states`` are used; must produce queries).
        vocab_size: size of the text tokenizer's vocabulary.
        n_text_layers: layers of the text tower (its width is the connector's width).
        embed_dim: width of the contrastive space.
        max_text_len: longest text in tokens.
        loss_weights: weights of (itc, itm, lm).
    """

    def __init__(
        self,
        connector: nn.Module,
        vocab_size: int,
        n_text_layers: int = 2,
        embed_dim: int = 128,
        max_text_len: int = 64,
        loss_weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        bridge_cfg: Any = connector.config
        width, heads = int(bridge_cfg.width), int(bridge_cfg.n_heads)
        self.connector = connector
        self.text = TextTower(vocab_size, width, n_text_layers, heads, max_text_len)
        self.query_proj = nn.Linear(width, embed_dim)
        self.text_proj = nn.Linear(width, embed_dim)
        self.itm_head = nn.Linear(width, 2)
        self.logit_scale = nn.Parameter(torch.tensor(1 / 0.07).log())
        self.loss_weights = loss_weights
        self._gather: Callable[[Tensor], Tensor] | None = None
        self._rank = 0

    def set_gather(self, fn: Callable[[Tensor], Tensor], rank: int = 0) -> None:
        """Install the cross-rank gather (``fabric.all_gather`` with gradients) and this rank."""
        self._gather, self._rank = fn, rank

    def _all(self, x: Tensor) -> Tensor:
        if self._gather is None:
            return x
        g = self._gather(x)
        return g.reshape(-1, *x.shape[1:]) if g.dim() > x.dim() else g

    def forward(self, batch: Stage1Batch) -> dict[str, Tensor]:
        out = self.connector(*batch.mol.inputs())
        states, qmask = out.query_states, out.mask  # [B, Q, W], [B, Q]
        text_states = self.text(batch.text_ids, batch.text_mask, "encode")  # [B, T+1, W]
        q = F.normalize(self.query_proj(states), dim=-1)  # [B, Q, E]
        t = F.normalize(self.text_proj(text_states[:, 0]), dim=-1)  # [B, E]
        itc, sim_g2t, sim_t2g = self._contrastive(q, qmask, t, batch.text_key)
        itm, itm_acc = self._matching(states, qmask, batch, sim_g2t, sim_t2g)
        hidden = self.text(batch.text_ids, batch.text_mask, "caption", states, qmask)  # [B, T+1, W]
        lm = caption_loss(hidden, self.text.embed.weight, batch.text_ids, batch.text_mask)
        w_itc, w_itm, w_lm = self.loss_weights
        loss = w_itc * itc + w_itm * itm + w_lm * lm
        return {
            "loss": loss,
            "itc": itc.detach(),
            "itm": itm.detach(),
            "lm": lm.detach(),
            "itm_acc": itm_acc,
        }

    def _contrastive(
        self, q: Tensor, qmask: Tensor, t: Tensor, text_key: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Contrastive loss over all ranks (query slots padded to a common count first).

        Returns ``(loss, sim_g2t [B, B*], sim_t2g [B, B*])``; ``B*`` is the batch over all ranks.
        """
        q_pad, qmask_pad = q, qmask
        if self._gather is not None:
            q_len = torch.tensor([q.shape[1]], device=q.device)
            width = int(self._all(q_len).max())
            q_pad = F.pad(q, (0, 0, 0, width - q.shape[1]))  # [B, Q', E]
            qmask_pad = F.pad(qmask, (0, width - qmask.shape[1]), value=False)  # [B, Q']
        all_q, all_qmask, all_t = self._all(q_pad), self._all(qmask_pad), self._all(t)
        all_keys = self._all(text_key)
        scale = self.logit_scale.clamp(max=4.6052).exp()  # <= 100
        sim_g2t = masked_max_similarity(q, qmask, all_t) * scale  # [B, B*]
        sim_t2g = masked_max_similarity(all_q, all_qmask, t).T * scale  # [B, B*]
        return contrastive_loss(sim_g2t, sim_t2g, text_key, all_keys), sim_g2t, sim_t2g

    def _matching(
        self, states: Tensor, qmask: Tensor, batch: Stage1Batch, sim_g2t: Tensor, sim_t2g: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Matching loss and accuracy with in-batch hard negatives (local batch); zero when the
        batch has a sample without any negative."""
        b = states.shape[0]
        same = batch.text_key[:, None] == batch.text_key[None, :]  # [B, B]
        zero = torch.zeros((), device=states.device)
        if not (b > 1 and bool((~same).any(dim=1).all())):
            return zero, zero
        lo = self._rank * b
        neg_text, neg_graph = hard_negatives(sim_g2t[:, lo : lo + b], sim_t2g[:, lo : lo + b], same)
        ids = torch.cat([batch.text_ids, batch.text_ids[neg_text], batch.text_ids])
        tmask = torch.cat([batch.text_mask, batch.text_mask[neg_text], batch.text_mask])
        qs = torch.cat([states, states, states[neg_graph]])
        qm = torch.cat([qmask, qmask, qmask[neg_graph]])
        cls = self.text(ids, tmask, "match", qs, qm)[:, 0]  # [3B, W]
        return matching_loss(self.itm_head(cls), b)


def contrastive_loss(
    sim_g2t: Tensor, sim_t2g: Tensor, text_key: Tensor, all_keys: Tensor
) -> Tensor:
    """Symmetric InfoNCE (as open_clip's ``ClipLoss``) with soft targets: every text of the
    gathered batch that equals a sample's text (same ``text_key``) is a positive.

    Shapes:
        - sim_g2t, sim_t2g: ``[B, B*]`` scaled similarities (local rows, gathered columns)
        - text_key: ``[B]``; all_keys: ``[B*]``
        - output: scalar
    """
    pos = (text_key[:, None] == all_keys[None, :]).float()  # [B, B*]
    target = pos / pos.sum(dim=1, keepdim=True)
    return 0.5 * (
        -(target * F.log_softmax(sim_g2t, dim=1)).sum(1).mean()
        - (target * F.log_softmax(sim_t2g, dim=1)).sum(1).mean()
    )


@torch.no_grad()
def hard_negatives(sim_g2t: Tensor, sim_t2g: Tensor, same: Tensor) -> tuple[Tensor, Tensor]:
    """Sample one hard negative text per graph and one graph per text (softmax over similarity,
    positives excluded).

    Shapes:
        - sim_g2t, sim_t2g: ``[B, B]`` (this rank's block); same: bool ``[B, B]``
        - output: ``(negative text index [B], negative graph index [B])``
    """
    w_g2t = F.softmax(sim_g2t.float(), dim=1).masked_fill(same, 0) + 1e-9
    w_t2g = F.softmax(sim_t2g.float(), dim=1).masked_fill(same, 0) + 1e-9
    w_g2t = w_g2t.masked_fill(same, 0)
    w_t2g = w_t2g.masked_fill(same, 0)
    neg_text = torch.multinomial(w_g2t, 1).squeeze(1)  # [B]
    neg_graph = torch.multinomial(w_t2g, 1).squeeze(1)  # [B]
    return neg_text, neg_graph


def matching_loss(logits: Tensor, b: int) -> tuple[Tensor, Tensor]:
    """Cross-entropy of the match head: the first ``b`` rows are matched pairs, the other
    ``2b`` negatives. Returns ``(loss, accuracy)``.

    Shapes:
        - logits: ``[3B, 2]``; output: two scalars
    """
    labels = torch.cat([torch.ones(b), torch.zeros(2 * b)]).long().to(logits.device)
    return F.cross_entropy(logits, labels), (logits.argmax(-1) == labels).float().mean()


def caption_loss(hidden: Tensor, embed: Tensor, text_ids: Tensor, text_mask: Tensor) -> Tensor:
    """Query-conditioned captioning: next-token cross-entropy through the tied text embedding.

    Shapes:
        - hidden: ``[B, T+1, W]``; embed: ``[V, W]``; text_ids: ``[B, T]``; text_mask: bool ``[B, T]``
        - output: scalar
    """
    logits = hidden[:, :-1] @ embed.T  # [B, T, V]
    return F.cross_entropy(logits[text_mask], text_ids[text_mask])


class TextVocab:
    """A compact text vocabulary: the tokenizer ids that occur in the training texts.

    The text tower only ever sees stage-1 texts, so its embedding and LM head need the few
    thousand tokens those texts use, not the LLM's full vocabulary (49K for SmolLM2) — this makes
    the captioning head an order of magnitude cheaper. Id 0 is reserved for tokens outside it.
    """

    def __init__(self, tokenizer: Any, texts: Sequence[str], max_len: int = 64) -> None:
        self.tokenizer, self.max_len = tokenizer, max_len
        seen: set[int] = set()
        for t in texts:
            seen.update(self._raw(t))
        self.index = {tok: i + 1 for i, tok in enumerate(sorted(seen))}

    def _raw(self, text: str) -> list[int]:
        ids = self.tokenizer(
            text, add_special_tokens=False, truncation=True, max_length=self.max_len
        )
        return list(ids["input_ids"])

    def __len__(self) -> int:
        return len(self.index) + 1

    def encode(self, text: str) -> list[int]:
        """Compact ids of ``text`` (0 for tokens never seen in training)."""
        return [self.index.get(i, 0) for i in self._raw(text)]


class Stage1Collator:
    """``[(smiles, text), ...]`` -> :class:`Stage1Batch` (molecules processed, text tokenised).

    Args:
        processor: a :class:`~edtformer.model.processing.MoleculeProcessor` (frozen encoders + patches).
        vocab: the compact text vocabulary (:class:`TextVocab`).
    """

    def __init__(self, processor: Any, vocab: TextVocab) -> None:
        self.processor, self.vocab = processor, vocab

    def __call__(self, items: Sequence[tuple[str, str]]) -> Stage1Batch:
        records = [parse_smiles(s) for s, _ in items]
        texts = [t for _, t in items]
        enc = [self.vocab.encode(t) for t in texts]
        width = max(1, max(len(e) for e in enc))
        ids = torch.zeros(len(enc), width, dtype=torch.long)
        mask = torch.zeros(len(enc), width, dtype=torch.bool)
        for i, e in enumerate(enc):
            ids[i, : len(e)] = torch.tensor(e, dtype=torch.long)
            mask[i, : len(e)] = True
        return Stage1Batch(self.processor(records), ids, mask, text_key(texts))
