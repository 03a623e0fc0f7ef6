"""The describe pipeline: image -> caption -> blind-reader editor prompt -> writer -> cleaning."""
