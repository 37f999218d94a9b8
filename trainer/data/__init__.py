"""The data wing: find and check the user's dataset, split it, decode it once, feed batches."""
