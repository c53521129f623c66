"""The data service: data sets, their versions and chunks, uploads, inspection and cleaning."""
