"""The link to the master station: GT/1 codec (sans-IO), transports, the exchange client."""
