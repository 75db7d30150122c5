"""File I/O: fastMRI HDF5 (read lazily, write atomically) and NIfTI. Knows nothing of solvers."""

from mrirecon.io.atomic import atomic_path
from mrirecon.io.fastmri import (FastMRIFile, FastMRIFileError, Header, KSpaceSlice, make_header, parse_header,
                                 write_fastmri_file, write_reconstruction)
from mrirecon.io.nifti import load_nifti, save_nifti

__all__ = ["atomic_path", "FastMRIFile", "FastMRIFileError", "Header", "KSpaceSlice", "make_header", "parse_header",
           "write_fastmri_file", "write_reconstruction", "save_nifti", "load_nifti"]
