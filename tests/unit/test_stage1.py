"""Stage-1 objectives: shapes, padded query slots excluded, the loss falls on a repeated batch."""

from __future__ import annotations

import torch

from edtformer.bridge import bridge_preset, build_connector
from edtformer.chem import parse_smiles
from edtformer.encoders import get_encoder
from edtformer.model.processing import MoleculeProcessor, brics_patcher
from edtformer.training.stage1 import (
    Stage1Batch,
    Stage1Model,
    masked_max_similarity,
    text_key,
)

SMILES = ["CCO", "c1ccccc1O", "C[C@H](N)C(=O)O", "F/C=C/F", "CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC"]


def _batch(connector_kind: str = "edt") -> tuple[Stage1Model, Stage1Batch]:
    torch.manual_seed(0)
    enc = get_encoder("random")
    cfg = bridge_preset("tiny", connector=connector_kind, encoder_widths=(enc.width,), llm_width=16)
    proc = MoleculeProcessor([enc], brics_patcher)
    mol = proc([parse_smiles(s) for s in SMILES])
    ids = torch.randint(1, 50, (len(SMILES), 7))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[0, 5:] = False
    texts = [f"text {i}" for i in range(len(SMILES) - 1)] + ["text 0"]  # a duplicate text
    ids[-1], mask[-1] = ids[0], mask[0]
    model = Stage1Model(build_connector(cfg), vocab_size=50, n_text_layers=1, embed_dim=16)
    return model, Stage1Batch(mol, ids, mask, text_key(texts))


def test_masked_max_ignores_padded_slots() -> None:
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # one molecule, two slots
    t = torch.tensor([[0.0, 1.0]])
    assert masked_max_similarity(q, torch.tensor([[True, True]]), t).item() == 1.0
    assert masked_max_similarity(q, torch.tensor([[True, False]]), t).item() == 0.0


def test_losses_finite_and_fall_on_repeated_batch() -> None:
    model, batch = _batch()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(30):
        out = model(batch)
        assert torch.isfinite(out["loss"]) and out["itm"] > 0
        if first is None:
            first = {k: float(v.detach()) for k, v in out.items()}
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert float(out["lm"]) < 0.85 * first["lm"]
    assert float(out["itc"]) < first["itc"]
    assert float(out["loss"].detach()) < first["loss"]


def test_anchors_only_connector_works_too() -> None:
    model, batch = _batch("anchors_only")
    out = model(batch)
    out["loss"].backward()
    assert model.connector.anchors.grad is not None


def test_loss_functions_match_their_textbook_forms() -> None:
    import torch.nn.functional as F

    from edtformer.training.stage1 import caption_loss, contrastive_loss, matching_loss

    g = torch.Generator().manual_seed(0)
    sim_g2t, sim_t2g = torch.randn(4, 4, generator=g), torch.randn(4, 4, generator=g)
    keys = torch.arange(4)
    clip = 0.5 * (F.cross_entropy(sim_g2t, keys) + F.cross_entropy(sim_t2g, keys))
    assert torch.allclose(contrastive_loss(sim_g2t, sim_t2g, keys, keys), clip)
    dup = torch.tensor([0, 1, 2, 0])  # rows 0 and 3 share a text: both columns are positives
    soft = contrastive_loss(sim_g2t, sim_t2g, dup, dup)
    target = torch.tensor([[0.5, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0], [0.5, 0, 0, 0.5]])
    manual = 0.5 * sum(-(target * F.log_softmax(s, 1)).sum(1).mean() for s in (sim_g2t, sim_t2g))
    assert torch.allclose(soft, manual)
    logits = torch.tensor([[0.0, 5.0], [5.0, 0.0], [0.0, 5.0]])  # 1 positive, 2 negatives
    loss, acc = matching_loss(logits, 1)
    assert abs(acc.item() - 2 / 3) < 1e-6 and loss.item() > 0
    hidden, embed = torch.randn(2, 4, 3, generator=g), torch.randn(5, 3, generator=g)
    ids, mask = torch.tensor([[1, 2, 3], [4, 0, 0]]), torch.tensor([[1, 1, 1], [1, 0, 0]]).bool()
    manual = F.cross_entropy((hidden[:, :-1] @ embed.T)[mask], ids[mask])
    assert torch.equal(caption_loss(hidden, embed, ids, mask), manual)
