"""Seismic data: 3-D amplitude volumes (``SeismicVolume``) with or without facies labels (synthetic, F3, an
unlabelled .npy or SEG-Y file), the sections and patches cut from them, and their inline-block splits."""
