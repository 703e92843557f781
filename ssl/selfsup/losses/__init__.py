"""Self-supervised losses, one small module per loss (statistics over the global DDP batch by default)."""

from selfsup.losses._matrix import off_diagonal
from selfsup.losses.barlow_twins import BarlowTwinsLoss
from selfsup.losses.info_nce import info_nce_with_queue
from selfsup.losses.negative_cosine import negative_cosine
from selfsup.losses.nt_xent import NTXentLoss
from selfsup.losses.triplet import MarginContrastiveLoss, TripletLoss
from selfsup.losses.vicreg import VICRegLoss
from selfsup.losses.wmse import WMSELoss, whiten

__all__ = [
    "BarlowTwinsLoss",
    "MarginContrastiveLoss",
    "NTXentLoss",
    "TripletLoss",
    "VICRegLoss",
    "WMSELoss",
    "info_nce_with_queue",
    "negative_cosine",
    "off_diagonal",
    "whiten",
]
