"""The jobs edgeaudio does, each a function from inputs to a result dataclass; the CLI only renders them."""
