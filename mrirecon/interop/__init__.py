"""Adapters that let other toolkits use mrirecon's networks (optional dependencies, import-guarded)."""
