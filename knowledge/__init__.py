"""The plant's documents in Chroma, with offline embeddings."""
