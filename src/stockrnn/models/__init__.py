"""Models: the recurrent network (plain torch) and the LightningModule that trains it."""
