"""Self-supervised losses, one small module per loss (statistics over the global DDP batch by default)."""
from selfsup.losses._matrix import off_diagonal
from selfsup.losses.barlow_twins import BarlowTwinsLoss
from selfsup.losses.vicreg import VICRegLoss

__all__ = ["BarlowTwinsLoss", "VICRegLoss", "off_diagonal"]
