"""The record schema: the keys a trial's results carry, how a trial's outcome is classified, and the rule that
picks the best trial. Imports nothing of sslsweep's: every other part of ``trainables`` reads it."""
