"""Bridge invariants on raw tensors: masking, padding/batch invariance, every connector trains."""

from __future__ import annotations

import pytest
import torch

from edtformer.bridge import (
    CONNECTOR_KINDS,
    bridge_preset,
    build_connector,
    count_patches,
    patch_membership,
    pool_membership,
    tiny,
)
from edtformer.errors import EdtError, InvalidShapeError

D = 16


def _molecule(
    n_atoms: int, n_patches: int, seed: int, widths: tuple[int, ...] = (D,)
) -> tuple[list[torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(n_atoms, w, generator=g) for w in widths]
    ids = torch.sort(torch.randint(0, n_patches, (n_atoms,), generator=g)).values
    ids[:n_patches] = torch.arange(n_patches)  # every patch id used, contiguous
    ids = torch.sort(ids).values
    return feats, ids


def _batch(mols: list[tuple[list[torch.Tensor], torch.Tensor]], n_max: int | None = None):
    n_max = n_max or max(int(ids.shape[0]) for _, ids in mols)
    s = len(mols[0][0])
    streams = [torch.zeros(len(mols), n_max, mols[0][0][i].shape[1]) for i in range(s)]
    mask = torch.zeros(len(mols), n_max, dtype=torch.bool)
    patch = torch.full((len(mols), n_max), -1, dtype=torch.long)
    for b, (feats, ids) in enumerate(mols):
        n = ids.shape[0]
        for i in range(s):
            streams[i][b, :n] = feats[i]
        mask[b, :n] = True
        patch[b, :n] = ids
    return streams, mask, patch


def test_presets_sizes() -> None:
    p = bridge_preset("paper")
    assert (p.n_anchors, p.max_dynamic_tokens, p.n_layers, p.width) == (32, 64, 12, 768)
    assert bridge_preset("smol").width < p.width
    with pytest.raises(EdtError, match="unknown bridge preset"):
        bridge_preset("huge")
    with pytest.raises(EdtError, match="unknown connector"):
        tiny(connector="qformer")


@pytest.mark.parametrize("key", ["instruction_queries", "fact_stereo_code"])
def test_a_saved_bridge_config_with_an_option_removed_in_0_2(key: str) -> None:
    """Switched off (``false`` / ``null``, the old default) the key is dropped on load; switched
    on, the saved bridge had parts this version cannot rebuild: a named error."""
    from edtformer.bridge.config import RETIRED_KEYS, BridgeConfig

    assert RETIRED_KEYS[key].startswith("removed in 0.2: set by nothing shipped")
    saved = tiny(instruction_aware=True).to_dict()
    assert key not in saved  # no longer written
    for off in (False, None):
        assert BridgeConfig.from_dict({**saved, key: off}) == BridgeConfig.from_dict(saved)
    with pytest.raises(EdtError, match=f"bridge config: {key} = True is no longer supported"):
        BridgeConfig.from_dict({**saved, key: True})
    with pytest.raises(EdtError, match="unknown bridge config keys"):
        BridgeConfig.from_dict({**saved, "instruction_querys": False})


#: The learned fact writer's bridge keys (removed in 0.2) as a bridge without fact tokens saved
#: them (the shipped default bridge's config.json), and a value that switches each one on.
FACT_WRITER_KEYS = {
    "fact_tokens": (False, True),
    "fact_stereo": (False, True),
    "fact_pair": (False, True),
    "fact_bbb": (False, True),
    "fact_formula": (False, True),
    "fact_group_tokens": (0, 24),
    "fact_groups": ([], ["halogen", "ester"]),
}


def test_a_saved_bridge_config_of_the_fact_writer_era_loads_without_it() -> None:
    """Every bridge saved before 0.2 carries the fact writer's keys: switched off they are
    dropped (``fact_ez_slots`` whatever its value: it only sized the writer's E/Z list); a
    bridge that wrote fact tokens is a named error (its writer cannot be rebuilt)."""
    from edtformer.bridge.config import RETIRED_KEYS, BridgeConfig

    saved = tiny(instruction_aware=True).to_dict()
    old = {**saved, **{k: off for k, (off, _) in FACT_WRITER_KEYS.items()}, "fact_ez_slots": 8}
    assert not any(k.startswith("fact_") for k in saved)  # no longer written
    assert BridgeConfig.from_dict(old) == BridgeConfig.from_dict(saved)
    assert BridgeConfig.from_dict({**old, "fact_groups": None}) == BridgeConfig.from_dict(saved)
    for key, (_, on) in FACT_WRITER_KEYS.items():
        assert RETIRED_KEYS[key] == (
            "removed in 0.2: the learned fact writer; the RDKit fact sheet replaced it"
        )
        with pytest.raises(EdtError) as err:
            BridgeConfig.from_dict({**old, key: on})
        message = str(err.value)
        assert message.startswith(f"bridge config: {key} = {on!r} is no longer supported")
        assert "the learned fact writer" in message and "cannot be rebuilt" in message
    with pytest.raises(TypeError):  # and no longer a field
        tiny(fact_tokens=False)


def test_pooling_ignores_padding_and_respects_cap() -> None:
    h = torch.tensor([[[1.0], [3.0], [5.0], [100.0]]])  # last row is padding
    mask = torch.tensor([[True, True, True, False]])
    ids = torch.tensor([[0, 0, 1, -1]])
    m = patch_membership(ids, mask)
    assert pool_membership(h, m).squeeze(-1).tolist() == [[2.0, 5.0]]
    # two partitions (entropy + BRICS) give their tokens one after the other; cap drops the rest
    both = torch.stack([ids, torch.tensor([[0, 1, 1, -1]])], dim=1)  # [B, 2, N]
    assert count_patches(both, mask).tolist() == [4]
    capped = patch_membership(both, mask, max_tokens=3)
    assert pool_membership(h, capped).squeeze(-1).tolist() == [[2.0, 5.0, 1.0]]
    assert capped.n_dropped.tolist() == [1]


@pytest.mark.parametrize("connector", ["edt", "anchors_only", "dynamic_only", "mlp"])
def test_padding_and_batch_do_not_change_tokens(connector: str) -> None:
    torch.manual_seed(0)
    cfg = tiny(connector=connector, encoder_widths=(D,), llm_width=24, max_dynamic_tokens=8)
    net = build_connector(cfg).eval()
    a, b, c = _molecule(5, 2, 1), _molecule(11, 6, 2), _molecule(3, 1, 3)
    alone = net(*_batch([a]))
    padded = net(*_batch([a], n_max=20))
    batched = net(*_batch([b, a, c]))
    ref = alone.unpad()[0]
    assert ref.shape[0] == int(net.num_tokens(*_batch([a])[1:])[0])
    torch.testing.assert_close(padded.unpad()[0], ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched.unpad()[1], ref, atol=1e-5, rtol=1e-5)
    # padded slots are zero and masked
    assert torch.all(batched.tokens[~batched.mask] == 0)
    assert batched.n_tokens.tolist() == net.num_tokens(*_batch([b, a, c])[1:]).tolist()


def test_edt_token_counts_are_anchors_plus_real_patches() -> None:
    cfg = tiny(encoder_widths=(D,), llm_width=24, n_anchors=4, max_dynamic_tokens=5)
    net = build_connector(cfg)
    out = net(*_batch([_molecule(6, 2, 0), _molecule(12, 7, 1)]))
    assert out.n_anchors == 4
    assert out.n_dynamic.tolist() == [2, 5]
    assert out.n_dropped.tolist() == [0, 2]
    assert out.n_tokens.tolist() == [6, 9]
    assert out.flat().shape == (15, 24)


@pytest.mark.parametrize("connector", CONNECTOR_KINDS)
@pytest.mark.parametrize("widths", [(D,), (D, 8)], ids=["single", "fused"])
def test_every_connector_runs_forward_and_backward(connector: str, widths: tuple[int, ...]) -> None:
    cfg = tiny(connector=connector, encoder_widths=widths, llm_width=24)
    net = build_connector(cfg)
    out = net(*_batch([_molecule(7, 3, 0, widths), _molecule(4, 2, 1, widths)]))
    params = [p for p in net.parameters() if p.requires_grad]
    if connector == "none":
        assert out.flat().shape == (0, 24) and not params
        return
    loss = out.flat().pow(2).mean()
    loss.backward()
    assert params and all(p.grad is not None for p in params), [
        n for n, p in net.named_parameters() if p.grad is None
    ]


def test_wrong_shapes_raise_typed_errors() -> None:
    net = build_connector(tiny(encoder_widths=(D,), llm_width=24))
    streams, mask, patch = _batch([_molecule(5, 2, 0)])
    with pytest.raises(InvalidShapeError, match="node_feats"):
        net([streams[0][..., :3]], mask, patch)
    with pytest.raises(InvalidShapeError, match="patch_ids"):
        net(streams, mask, patch[:, :2])
