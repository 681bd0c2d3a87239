"""Small deterministic data sets edgeaudio makes itself (nothing is downloaded)."""
