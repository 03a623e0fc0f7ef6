"""The describe pipeline: image -> evidence and captions -> blind-reader editor prompt -> writer
-> the judge (clean, lint, grounding; retry, trim or compose)."""
