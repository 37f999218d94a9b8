"""The deploy wing: a finished run's model loaded, exported, optimised and used to predict."""
