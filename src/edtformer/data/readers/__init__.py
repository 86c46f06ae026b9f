"""Readers for the paper's benchmark formats, yielding records in our schema (:class:`Record`).

None of these data sets ships offline; users who have the files can train and evaluate on them:

- :func:`read_moleculeqa` — MoleculeQA: JSON/JSONL objects (``smiles``/``cid``, ``question``,
  ``options``, ``answer``, ``category``), the BioT5-style ``{"Instances": [{"input", "output"}]}``
  JSON and the MolT5-style ``CID<TAB>Question<TAB>Answer`` text files (options inside the text).
- :func:`read_mol_instructions` — Mol-Instructions molecule-oriented JSON lists of
  ``{"instruction", "input", "output", "metadata"}`` with SELFIES molecules (decoded with
  ``selfies`` and canonicalised by RDKit; reactions ``a.b>>c`` give several molecules).
- :func:`read_csv_dataset` — TDC (``Drug``, ``Y``) and MoleculeNet (``smiles`` + target columns).

Splits: a reader uses the split it is given, else the one the file names (``train``/``valid``/
``test`` in its name or metadata), else the scaffold split of a built dataset's
:class:`~edtformer.data.splits.SplitTable` (pass ``table=``), else a seeded scaffold hash.
Bad lines raise :class:`~edtformer.errors.DataError` naming the file and line (or record index).
"""

from edtformer.data.readers.mol_instructions import read_mol_instructions
from edtformer.data.readers.moleculeqa import read_moleculeqa
from edtformer.data.readers.tabular import read_csv_dataset

__all__ = ["read_csv_dataset", "read_mol_instructions", "read_moleculeqa"]
