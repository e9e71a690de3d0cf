"""Writes: value checks, staging into row versions, batches, transactions and write handles."""

from jazz_nb.writes.batch import Batch, Transaction
from jazz_nb.writes.handle import BatchTracker, WriteHandle

__all__ = ["Batch", "BatchTracker", "Transaction", "WriteHandle"]
