"""Photos on disk: scanning, safe decoding, caching, export."""
