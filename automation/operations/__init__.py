"""Day-2 operations on a help desk: backup, restore, upgrade, and the re-verification of recorded runs that
proves each of them lost nothing."""
