"""The routine core: framework-free, so the voice and the watch share one truth."""
