"""The :class:`Volume`: a voxel array that carries its world geometry.

Conventions, used everywhere in voxelprompt:

* ``array`` is indexed ``[i, j, k]`` (three spatial axes) or ``[i, j, k, c]`` when the image has
  colour or other channels. A 2D picture is a volume with ``k`` of size 1; ``i`` runs along the
  picture's columns (x, left to right on screen) and ``j`` along its rows (y, top to bottom).
* ``affine`` is the 4x4 voxel-to-world matrix: ``world = affine @ [i, j, k, 1]``, world axes in
  RAS+ order (x to the patient's Right, y Anterior, z Superior), in millimetres.
* When the physical pixel size is unknown (a photograph, a DICOM file without spacing) the affine
  is the identity scale and ``spatial_unit`` is ``"pixel"``: lengths are then in pixels and no
  millimetre is ever invented.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import nibabel.orientations as nib_orient
import numpy as np

from voxelprompt.errors import DimensionError, GeometryError

MM = "mm"
PIXEL = "pixel"


@dataclass(frozen=True)
class VolumeMetadata:
    """What is known about where a volume came from.

    Attributes:
        source: Path of the file or folder it was read from, if any.
        format: Reader that produced it (``nifti``, ``mgh``, ``nrrd``, ``dicom``, ``raster``).
        modality: Imaging modality when known (``MR``, ``CT``, ``US`` ...).
        spatial_unit: ``"mm"`` when the affine is physical, ``"pixel"`` when spacing is unknown.
        intensity_unit: Unit of the stored values (``HU`` for rescaled CT, else ``a.u.``).
        is_2d: True for single-slice pictures (PNG, JPEG, a DICOM photo or radiograph).
        channel_names: Names of the channels (``["R", "G", "B"]``) when the array has a channel axis.
        header: Format-specific header kept so that writing a mask back reproduces the reference
            file's geometry fields exactly (for NIfTI: qform and sform with their codes).
        notes: Free-form facts about how geometry was derived (e.g. ``"spacing from
            SequenceOfUltrasoundRegions"``).
    """

    source: str | None = None
    format: str | None = None
    modality: str | None = None
    spatial_unit: str = MM
    intensity_unit: str = "a.u."
    is_2d: bool = False
    channel_names: tuple[str, ...] | None = None
    header: Any = field(default=None, repr=False, compare=False)
    notes: tuple[str, ...] = ()


class Volume:
    """An image or mask together with its voxel-to-world geometry.

    Args:
        array: Voxel values, shape ``(I, J, K)`` or ``(I, J, K, C)``.
        affine: 4x4 voxel-to-world matrix (RAS+, mm; pixels when ``spatial_unit`` is ``"pixel"``).
        metadata: Provenance and format facts; defaults to an empty :class:`VolumeMetadata`.

    Raises:
        DimensionError: If the array is not 3D or 3D plus one channel axis.
        GeometryError: If the affine is not a finite, invertible 4x4 matrix.
    """

    __slots__ = ("_affine", "_array", "metadata")

    def __init__(
        self,
        array: np.ndarray,
        affine: np.ndarray,
        metadata: VolumeMetadata | None = None,
    ) -> None:
        array = np.asanyarray(array)
        if array.ndim not in (3, 4):
            raise DimensionError(
                f"a volume needs 3 spatial axes (plus at most one channel axis), got shape "
                f"{tuple(array.shape)}",
                "pass a 3D array (use shape (X, Y, 1) for a single slice)",
            )
        affine = np.asarray(affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise GeometryError("the affine must be a finite 4x4 matrix", "check the file header")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise GeometryError(
                "the affine is singular (a voxel axis has zero length)", "check the file header"
            )
        self._array = array
        self._affine = affine.copy()
        self._affine.setflags(write=False)
        self.metadata = metadata or VolumeMetadata()

    # ----------------------------------------------------------------------------- basic facts
    @property
    def array(self) -> np.ndarray:
        """The voxel values, indexed ``[i, j, k]`` or ``[i, j, k, c]``."""
        return self._array

    @property
    def affine(self) -> np.ndarray:
        """Read-only 4x4 voxel-to-world matrix (RAS+)."""
        return self._affine

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape ``(I, J, K)`` in voxels."""
        return tuple(int(n) for n in self._array.shape[:3])  # type: ignore[return-value]

    @property
    def n_channels(self) -> int:
        """Number of channels: 1 for a scalar image, 3 for RGB."""
        return 1 if self._array.ndim == 3 else int(self._array.shape[3])

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Length of one voxel step along ``i``, ``j`` and ``k``, in ``spatial_unit``."""
        return tuple(float(s) for s in np.linalg.norm(self._affine[:3, :3], axis=0))  # type: ignore

    @property
    def spatial_unit(self) -> str:
        """``"mm"`` or ``"pixel"``."""
        return self.metadata.spatial_unit

    @property
    def is_physical(self) -> bool:
        """True when lengths are in millimetres (spacing is known)."""
        return self.metadata.spatial_unit == MM

    @property
    def is_2d(self) -> bool:
        """True for single-slice pictures."""
        return self.metadata.is_2d or self.shape[2] == 1

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel in ``spatial_unit`` cubed (mm³ for physical volumes)."""
        return float(abs(np.linalg.det(self._affine[:3, :3])))

    @property
    def orientation(self) -> str:
        """Axis codes of the voxel axes, e.g. ``"RAS"`` or ``"LPI"`` (nibabel convention)."""
        return "".join(nib_orient.aff2axcodes(self._affine))

    def __repr__(self) -> str:
        return (
            f"Volume(shape={self._array.shape}, spacing={tuple(round(s, 4) for s in self.spacing)}"
            f" {self.spatial_unit}, orientation={self.orientation}, dtype={self._array.dtype},"
            f" source={self.metadata.source!r})"
        )

    # ------------------------------------------------------------------------------- coordinates
    def world_from_voxel(self, ijk: np.ndarray) -> np.ndarray:
        """Map voxel coordinates to world coordinates.

        Args:
            ijk: Voxel coordinates, shape ``(3,)`` or ``(N, 3)``.

        Returns:
            World coordinates (RAS+, in ``spatial_unit``) of the same shape.
        """
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk @ self._affine[:3, :3].T + self._affine[:3, 3]

    def voxel_from_world(self, xyz: np.ndarray) -> np.ndarray:
        """Map world coordinates (RAS+, ``spatial_unit``) to fractional voxel coordinates.

        Args:
            xyz: World coordinates, shape ``(3,)`` or ``(N, 3)``.

        Returns:
            Voxel coordinates of the same shape (not rounded).
        """
        inv = np.linalg.inv(self._affine)
        xyz = np.asarray(xyz, dtype=np.float64)
        return xyz @ inv[:3, :3].T + inv[:3, 3]

    # --------------------------------------------------------------------------------- derivation
    def with_array(self, array: np.ndarray, **metadata_changes: Any) -> Volume:
        """A new volume on the same grid holding ``array``.

        Args:
            array: New values; their spatial shape must equal this volume's.
            **metadata_changes: Fields of :class:`VolumeMetadata` to replace.

        Returns:
            A volume with this volume's affine and (updated) metadata.

        Raises:
            GeometryError: If the spatial shape differs.
        """
        array = np.asanyarray(array)
        if tuple(array.shape[:3]) != self.shape:
            raise GeometryError(
                f"array of shape {tuple(array.shape)} does not fit the grid {self.shape}",
                "resample it onto the grid first",
            )
        return Volume(array, self._affine, dataclasses.replace(self.metadata, **metadata_changes))

    def with_geometry(self, array: np.ndarray, affine: np.ndarray, **metadata_changes: Any) -> Volume:
        """A new volume with a different grid, keeping provenance but dropping stale headers.

        Args:
            array: The values on the new grid.
            affine: The new voxel-to-world matrix.
            **metadata_changes: Fields of :class:`VolumeMetadata` to replace.

        Returns:
            The new volume. The format header is dropped because its geometry no longer applies.
        """
        changes = {"header": None, **metadata_changes}
        return Volume(array, affine, dataclasses.replace(self.metadata, **changes))

    # -------------------------------------------------------------------------------- comparison
    def same_grid(self, other: Volume, *, atol_mm: float = 1e-3) -> bool:
        """Whether ``other`` has the same spatial shape and (within ``atol_mm``) the same affine."""
        if self.shape != other.shape:
            return False
        return bool(np.allclose(self._affine, other.affine, atol=atol_mm, rtol=0))

    def describe_grid(self) -> str:
        """One-line description of the grid for error messages."""
        sp = "x".join(f"{s:.3g}" for s in self.spacing)
        return f"shape {self.shape}, spacing {sp} {self.spatial_unit}, orientation {self.orientation}"
