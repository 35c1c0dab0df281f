"""One script per figure; each reads saved records and writes PDF + PNG."""
