"""Pictures: molecules coloured by patch and annotated with per-atom entropy."""

from edtformer.viz.draw import (
    PALETTE,
    draw_patches,
    draw_patches_files,
    patch_color,
    render_patches,
)

__all__ = ["PALETTE", "draw_patches", "draw_patches_files", "patch_color", "render_patches"]
