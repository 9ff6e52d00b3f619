"""OFAC sanctions-list parsing and address normalisation (pure Python, no ORM)."""
