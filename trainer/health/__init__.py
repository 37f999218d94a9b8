"""The health wing: the data's problems before a bake-off, the model's evidence after it."""
