"""Pure pricing: normalised usage + model -> exact cost. No storage, no I/O."""
