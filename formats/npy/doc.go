// Package npy reads and writes NumPy's .npy files (one array) and .npz archives (a zip of
// .npy files, one per named array), as written by np.save, np.savez and np.savez_compressed.
//
// Supported are little-endian numeric dtypes that qscript's tensor package holds (f8, f4,
// f2, i8, i4, i2, i1, u1, b1) and header versions 1.0, 2.0 and 3.0. Fortran-order arrays
// are transposed to C order on Load. The header, a Python dict literal, is parsed by a
// small bounded parser and never evaluated. An .npz archive is read lazily: each member's
// npy header is read at open, and its data, bounded by that header's shape×dtype, on Load.
package npy
