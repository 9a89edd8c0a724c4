"""The emitters: each turns a Derivation into a file people read (a NumPy module, a handout)."""
