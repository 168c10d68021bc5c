"""Background work (Huey): settlement and the pending-payment sweeper."""
