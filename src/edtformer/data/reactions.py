"""Template reactions: datamol's reaction templates applied to MOSES molecules.

Each MOSES molecule is tried as a *product*: a template's ``retro_smarts`` (RDKit reaction
SMARTS) splits it into reactants, and the reaction is kept only if the template's forward
``syn_smarts`` applied to those reactants gives the product back (round trip). That yields
pairs for both tasks from drug-like products: ``forward`` (reactants -> product) and ``retro``
(product -> reactants). Everything is deterministic: molecules and templates in fixed order, the
first valid disconnection per (molecule, template), at most ``per_template`` reactions per
template and one reaction per product.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rdkit import Chem, rdBase
from rdkit.Chem import rdChemReactions

from edtformer.chem import rdkit_mol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reaction:
    """One template reaction.

    Attributes:
        reactants: canonical SMILES of the reactants, sorted.
        product: canonical SMILES of the product.
        template: the datamol template id (e.g. ``"amide-coupling-1"``).
        name: its human-readable name.
    """

    reactants: tuple[str, ...]
    product: str
    template: str
    name: str


def _sanitized_smiles(mol: Chem.Mol) -> str | None:
    try:
        m = Chem.Mol(mol)
        Chem.SanitizeMol(m)
        smi = Chem.MolToSmiles(m)
        return smi if rdkit_mol(smi) is not None else None
    except Exception:  # RDKit raises several unrelated types for bad valences
        return None


def _compile(templates: dict[str, dict[str, Any]]) -> list[tuple[str, str, Any, Any]]:
    out = []
    for tid, t in templates.items():
        retro = rdChemReactions.ReactionFromSmarts(t["retro_smarts"])
        syn = rdChemReactions.ReactionFromSmarts(t["syn_smarts"])
        retro.Initialize()
        syn.Initialize()
        if retro.GetNumReactantTemplates() != 1:
            continue
        out.append((tid, str(t.get("long_name", tid)), retro, syn))
    return out


def _forward_gives(syn: Any, reactants: tuple[str, ...], product: str) -> bool:
    mols = [rdkit_mol(s) for s in reactants]
    if any(m is None for m in mols) or len(mols) != syn.GetNumReactantTemplates():
        return False
    for perm in itertools.permutations(mols):
        for outcome in syn.RunReactants(tuple(perm), 50):
            for p in outcome:
                if _sanitized_smiles(p) == product:
                    return True
    return False


def template_reactions(
    products: Iterable[str],
    templates: dict[str, dict[str, Any]],
    per_template: int = 20,
    max_reactions: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Reaction]:
    """Disconnect ``products`` with the templates' retro SMARTS, checked by the forward SMARTS.

    Args:
        products: canonical SMILES, tried in order.
        templates: ``{id: {"retro_smarts", "syn_smarts", "long_name"}}`` (see ``load_templates``).
        per_template: at most this many reactions per template (diversity, speed).
        max_reactions: stop after this many reactions in total.
        progress: called with 1 after each product (for a progress bar).
    """
    compiled = _compile(templates)
    used = dict.fromkeys((c[0] for c in compiled), 0)
    out: list[Reaction] = []
    with rdBase.BlockLogs():
        for product in products:
            if progress is not None:
                progress(1)
            mol = rdkit_mol(product)
            if mol is None:
                continue
            for tid, name, retro, syn in compiled:
                if used[tid] >= per_template:
                    continue
                if not mol.HasSubstructMatch(retro.GetReactantTemplate(0)):
                    continue
                found = _disconnect(mol, product, retro, syn)
                if found is not None:
                    out.append(Reaction(found, product, tid, name))
                    used[tid] += 1
                    break
            if max_reactions is not None and len(out) >= max_reactions:
                break
    log.info(
        "%d template reactions from %d templates", len(out), sum(1 for v in used.values() if v)
    )
    return out


def _disconnect(mol: Chem.Mol, product: str, retro: Any, syn: Any) -> tuple[str, ...] | None:
    seen: set[tuple[str, ...]] = set()
    for outcome in retro.RunReactants((mol,), 20):
        smis = [_sanitized_smiles(m) for m in outcome]
        if any(s is None for s in smis):
            continue
        key = tuple(sorted(s for s in smis if s is not None))
        if key in seen or product in key:
            continue
        seen.add(key)
        if _forward_gives(syn, key, product):
            return key
    return None
