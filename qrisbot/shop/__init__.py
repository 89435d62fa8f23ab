"""What the buyer experiences: the dialogue, one order's life, and every text."""
