"""The centre's hardware: the GPU model catalogue (inventory and capacity come later)."""
