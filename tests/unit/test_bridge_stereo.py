"""The optional stereo embedding: enantiomers and E/Z isomers become distinguishable."""

from __future__ import annotations

import pytest
import torch

from edtformer.bridge import bridge_preset, build_connector
from edtformer.bridge import stereo as bridge_stereo
from edtformer.chem import parse_smiles
from edtformer.chem import stereo as chem_stereo
from edtformer.chem.stereo import stereo_codes
from edtformer.model.processing import pad_stereo


def test_the_embedding_tables_fit_the_chem_codes() -> None:
    # the bridge keeps its own copy of the code vocabularies (it never imports the chem front end)
    for name in ("N_CHIRALITY", "N_EZ", "N_CIP"):
        assert getattr(bridge_stereo, name) == getattr(chem_stereo, name), name


def test_stereo_codes() -> None:
    l_ala, d_ala = parse_smiles("C[C@H](N)C(=O)O"), parse_smiles("C[C@@H](N)C(=O)O")
    assert stereo_codes(l_ala)[1, 0] != stereo_codes(d_ala)[1, 0]
    trans, cis = stereo_codes(parse_smiles("F/C=C/F")), stereo_codes(parse_smiles("F/C=C\\F"))
    assert trans[:, 1].tolist() == [0, 2, 2, 0] and cis[:, 1].tolist() == [0, 1, 1, 0]
    assert pad_stereo([l_ala, parse_smiles("CC")], 6)[1, 2:].abs().sum() == 0


@pytest.mark.parametrize("kind", ["edt", "mlp"])
def test_embedding_separates_enantiomers_with_identical_node_features(kind: str) -> None:
    torch.manual_seed(0)
    mols = [parse_smiles("C[C@H](N)C(=O)O"), parse_smiles("C[C@@H](N)C(=O)O")]
    feats = [torch.randn(1, 6, 16).expand(2, -1, -1).contiguous()]  # identical rows
    mask = torch.ones(2, 6, dtype=torch.bool)
    patches = torch.tensor([[0, 0, 1, 1, 1, 1]] * 2)
    codes = pad_stereo(mols, 6)
    for flag in (False, True):
        cfg = bridge_preset("tiny", connector=kind, encoder_widths=(16,), llm_width=8,
                            stereo_embedding=flag)  # fmt: skip
        conn = build_connector(cfg).eval()
        out = conn(feats, mask, patches, codes)
        same = torch.allclose(out.tokens[0], out.tokens[1])
        assert same  # zero-initialised: an untrained option changes nothing
        if flag:
            torch.nn.init.normal_(conn.stereo.chirality.weight)
            out = conn(feats, mask, patches, codes)
            assert not torch.allclose(out.tokens[0], out.tokens[1])


def test_cip_codes_name_r_and_s_whatever_the_writing() -> None:
    # L-alanine written two ways: the chirality tag flips with the neighbour order, CIP does not
    a, b = parse_smiles("C[C@H](N)C(=O)O"), parse_smiles("N[C@@H](C)C(=O)O")
    assert stereo_codes(a)[1, 0] != stereo_codes(b)[1, 0]  # @ vs @@ for the same centre ...
    assert stereo_codes(a)[1, 2] == 2 and stereo_codes(b)[1, 2] == 2  # ... both (S)
    d_ala = parse_smiles("C[C@@H](N)C(=O)O")
    assert stereo_codes(d_ala)[1, 2] == 1  # (R)
    assert stereo_codes(parse_smiles("CC(N)C(=O)O"))[:, 2].tolist() == [0] * 6  # unspecified


def test_cip_embedding_separates_enantiomers() -> None:
    torch.manual_seed(0)
    mols = [parse_smiles("C[C@H](N)C(=O)O"), parse_smiles("C[C@@H](N)C(=O)O")]
    feats = [torch.randn(1, 6, 16).expand(2, -1, -1).contiguous()]
    cfg = bridge_preset("tiny", encoder_widths=(16,), llm_width=8, stereo_embedding=True)
    conn = build_connector(cfg).eval()
    torch.nn.init.normal_(conn.stereo.cip.weight)
    out = conn(feats, torch.ones(2, 6, dtype=torch.bool), torch.zeros(2, 6).long(),
               pad_stereo(mols, 6))  # fmt: skip
    assert not torch.allclose(out.tokens[0], out.tokens[1])
